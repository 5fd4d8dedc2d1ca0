"""A real Celery worker process for the tests that need one (pytest plugin)."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection

# start_worker is imported from here by the tests that start their own workers.
from defender.worker_process import ROOT, start_worker, stop_workers

__all__ = ["start_worker", "stop_worker", "wait_for"]


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


def stop_worker(process: subprocess.Popen) -> None:
    stop_workers([process], timeout=20)


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
    from defender.celery import app

    return workers_idle(app)


def workers_idle(app) -> bool:
    """Nothing waits in ``app``'s queues and no worker has a task running, reserved or scheduled for
    a retry."""
    from django.conf import settings

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
