"""A real Celery worker process for the tests that need one (pytest plugin)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _test_database_url() -> str:
    """The URL of the database the test run created, for processes started by the tests."""
    config = connection.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    return f"postgres://{config['USER']}{password}@{config['HOST']}:{config['PORT']}/{config['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_env(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    return {**os.environ, "DATABASE_URL": database_url, "CELERY_TASK_ALWAYS_EAGER": "False"}


def start_worker(env: dict[str, str], log_path: Path, queues: str = "ingest,detect,governance,default"):
    """A `celery worker` process in its own process group (so a test can SIGKILL all of it),
    returned once it is ready to take tasks."""
    log = open(log_path, "w")  # noqa: SIM115 - closed by the caller's process end
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
            "--concurrency",
            "1",
            "--pool",
            "prefork",
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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The Celery worker exited at start; see {log_path}")
        if "ready." in log_path.read_text():
            return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"The Celery worker did not start in 60 s; see {log_path}")


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def celery_worker_process(celery_worker_env, aws_emulator):
    """A worker on every queue, pointed at the test database, the test broker and the local AWS
    emulator, for the whole session."""
    env = {**celery_worker_env, "AWS_ENDPOINT_URL": aws_emulator.endpoint_url}
    process = start_worker(env, Path(os.environ.get("VAR_DIR", ROOT / "var")) / "test-worker.log")
    yield process
    stop_worker(process)


@pytest.fixture
def celery_worker(celery_worker_process):
    """The session's worker, left idle when the test ends: a task still running (a follow-up the
    test did not wait for) would otherwise hold row locks while the test database is flushed, and
    the flush deadlocks or the next test finds its rows."""
    yield celery_worker_process
    wait_for(_worker_idle, timeout=60, interval=0.3)


def _worker_idle() -> bool:
    from django.conf import settings

    from defender.celery import app

    with app.connection_for_read() as broker:
        for queue in settings.CELERY_TASK_QUEUES:
            _, waiting, _ = broker.default_channel.queue_declare(queue=queue.name)
            if waiting:
                return False
    inspect = app.control.inspect(timeout=1)
    for busy in (inspect.active(), inspect.reserved(), inspect.scheduled()):
        if busy is None or any(busy.values()):
            return False
    return True


def wait_for(condition, timeout: float = 30, interval: float = 0.2):
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Condition not met within {timeout} s")
