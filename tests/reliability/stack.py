"""A PostgreSQL cluster and a Redis server of the reliability tests' own, which the tests restart while
workers use them (the session's shared database and broker must not be disturbed), and the way the test
process reads and writes that database: a Django subprocess pointed at it, so the product's own
services and models do the setup and the checks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from defender.worker_process import ROOT

PGBIN = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1])
# Debian's PostgreSQL refuses to run as root: the cluster belongs to the postgres user then.
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
READY_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def available() -> str | None:
    """Why these tests cannot run here, or None."""
    if not (PGBIN / "initdb").exists():
        return "PostgreSQL's initdb is not installed"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    return None


@dataclass
class Postgres:
    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/defender"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*AS_POSTGRES, str(PGBIN / "pg_ctl"), "-D", str(self.directory), *args],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> Postgres:
        self.directory.mkdir(parents=True)
        if AS_POSTGRES:
            shutil.chown(self.directory, "postgres")
        subprocess.run(
            [
                *(*AS_POSTGRES, str(PGBIN / "initdb"), "-D", str(self.directory)),
                *("-A", "trust", "-U", "postgres", "--no-sync"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        self._pg_ctl("-l", str(self.directory / "server.log"), "-w", "start", "-o", options)
        subprocess.run(
            [str(PGBIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "defender"],
            check=True,
        )
        return self

    def restart(self) -> None:
        """Stop at once (every session is cut, as a crash or a failover does) and start again."""
        self._pg_ctl("-m", "immediate", "-w", "restart")

    def stop(self) -> None:
        self._pg_ctl("-m", "immediate", "stop")

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=defender")

    def scalar(self, sql: str, *params: Any) -> Any:
        """One value read straight from the database (polled while workers run, so no Django start)."""
        with self.connect() as conn:
            return conn.execute(sql, params).fetchone()[0]


@dataclass
class Redis:
    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Persistence on, as in production: a restart keeps the queued tasks.
        subprocess.run(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "yes"),
                *("--daemonize", "yes", "--dir", str(self.directory), "--pidfile", str(self.pid_path)),
                *("--logfile", str(self.directory / "redis.log")),
            ],
            check=True,
        )
        deadline = time.monotonic() + READY_SECONDS
        while not self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis did not start; see {self.directory / 'redis.log'}")
            time.sleep(0.1)
        return self

    @property
    def pid_path(self) -> Path:
        return self.directory / "redis.pid"

    def _answers(self) -> bool:
        probe = subprocess.run(
            ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, check=False
        )
        return probe.stdout.strip() == "PONG"

    def shutdown(self) -> None:
        """SHUTDOWN, saving what is queued (as a clean restart does); :meth:`start` brings it back."""
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True, check=False)
        deadline = time.monotonic() + READY_SECONDS
        while self.pid_path.exists() or self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError("Redis did not stop")
            time.sleep(0.1)

    def restart(self, down_seconds: float) -> None:
        """Shut down, stay down ``down_seconds`` as a restarting server does, start on the same port."""
        self.shutdown()
        time.sleep(down_seconds)
        self.start()

    def stop(self) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, check=False
        )


def django_run(env: dict[str, str], code: str, **values: Any) -> Any:
    """Run ``code`` in a Django process with ``env`` (whose DATABASE_URL is the test's own cluster);
    ``values`` are its globals (JSON), and whatever it assigns to ``result`` comes back (JSON)."""
    program = (
        "import django, json, sys\n"
        "django.setup()\n"
        "globals().update(json.loads(sys.stdin.read()))\n"
        f"{code}\n"
        "print('\\n' + json.dumps(result, default=str))\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "defender.settings"},
        input=json.dumps(values),
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"The Django process failed:\n{finished.stderr}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def pool_children(worker: subprocess.Popen) -> list[int]:
    """The processes of a worker's prefork pool: the ones that run its tasks."""
    return [int(pid) for pid in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()]
