"""A real `celery worker` process for the tests and benchmarks that need one (never used by the product's
own code paths): started in its own process group, so that one signal reaches its pool children too,
and handed back only once it consumes tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVERY_QUEUE = "ingest,detect,governance,default"
READY_SECONDS = 60


def start_worker(
    env: dict[str, str],
    log_path: Path,
    queues: str = EVERY_QUEUE,
    *,
    pool: str = "prefork",
    name: str | None = None,
    ready_seconds: float = READY_SECONDS,
) -> subprocess.Popen:
    """A worker running one task at a time on ``queues``, its output in ``log_path``; returned once it
    logs "ready." (Celery logs that at INFO once its consumer runs, hence the log level)."""
    log = open(log_path, "w")  # noqa: SIM115 - the worker process writes it until it ends
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "defender",
            "worker",
            "-Q",
            queues,
            *(["-n", name] if name else []),
            *(["--concurrency", "1"] if pool == "prefork" else []),
            "--pool",
            pool,
            "--loglevel",
            "INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + ready_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The Celery worker exited at start; see {log_path}")
        if "ready." in log_path.read_text():
            return process
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    raise RuntimeError(f"The Celery worker did not start in {ready_seconds:.0f} s; see {log_path}")


def stop_workers(processes: Iterable[subprocess.Popen], timeout: float = 20) -> None:
    """SIGTERM to every worker's process group at once (each finishes its current task), then
    SIGKILL to any still running after ``timeout`` seconds."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
