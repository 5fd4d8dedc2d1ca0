"""The production-style web server for the load tests: gunicorn as scripts/run.sh starts it (DEBUG
off, static files collected, the TLS proxy's X-Forwarded-Proto trusted), with threads, on a free
loopback port, against the test PostgreSQL and Redis."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# What a TLS-terminating proxy in front of gunicorn adds to every request (BEHIND_TLS_PROXY=True).
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
WEB_READY_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def production_env(celery_worker_env, tmp_path_factory) -> dict[str, str]:
    """The environment of a production process on the test database: DEBUG off, this test process's
    secrets (sessions and encrypted fields made here must read there) and static files collected
    once, as scripts/run.sh does."""
    env = {
        **celery_worker_env,
        "DEBUG": "False",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
        "BEHIND_TLS_PROXY": "True",
        "STATIC_ROOT": str(tmp_path_factory.mktemp("staticfiles")),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return env


@dataclass
class WebServer:
    base_url: str
    log_path: Path
    workers: int
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def start_web(production_env, transactional_db, tmp_path) -> Iterator:
    """start_web(workers=, threads=, env={...}) -> a running gunicorn WebServer; stopped at the end of
    the test, before the test database is flushed."""
    servers: list[WebServer] = []

    def start(*, workers: int, threads: int, env: dict[str, str] | None = None) -> WebServer:
        port = free_port()
        log_path = tmp_path / f"gunicorn-{port}.log"
        log = open(log_path, "w")  # noqa: SIM115 - gunicorn writes it until it ends
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "defender.wsgi"),
                *("--bind", f"127.0.0.1:{port}"),
                *("--workers", str(workers), "--threads", str(threads)),
                *("--access-logfile", "-"),
                # gunicorn's control socket is one path per user: servers of parallel test runs would
                # take it from each other, and nothing here uses it.
                "--no-control-socket",
            ],
            cwd=ROOT,
            env={**production_env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = WebServer(f"http://127.0.0.1:{port}", log_path, workers, process)
        servers.append(server)
        _wait_until_serving(server)
        return server

    yield start
    for server in servers:
        _stop(server.process)


def _wait_until_serving(server: WebServer) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    deadline = time.monotonic() + WEB_READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited at start:\n{server.log()}")
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            probe.request("GET", "/accounts/login/", headers=PROXY_HEADERS)
            status = probe.getresponse().status
            if status == 200:
                return
            raise RuntimeError(f"gunicorn answered the sign-in page with {status}:\n{server.log()}")
        except OSError:
            pass
        finally:
            probe.close()
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not serve the sign-in page in {WEB_READY_SECONDS} s:\n{server.log()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
