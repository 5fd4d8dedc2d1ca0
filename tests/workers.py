"""A real Celery worker process for the tests that need one (pytest plugin)."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from celery.signals import after_task_publish
from django.db import connection

# start_worker is imported from here by the tests that start their own workers.
from defender.worker_process import ROOT, start_worker, stop_workers

__all__ = ["start_worker", "stop_worker", "wait_for", "workers_idle"]

# Whether the session's worker runs, and whether the current test sent it a task.
_session_worker = {"running": False, "sent": False}


@after_task_publish.connect
def _note_task_sent(**kwargs) -> None:
    _session_worker["sent"] = True


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
    from defender.celery import app

    # Tasks sent by earlier tests (whose rows are gone) are not this worker's to run.
    _purge_queues(app)
    env = {**celery_worker_env, "AWS_ENDPOINT_URL": aws_emulator.endpoint_url}
    process = start_worker(env, Path(os.environ.get("VAR_DIR", ROOT / "var")) / "test-worker.log")
    _session_worker["running"] = True
    yield process
    _session_worker["running"] = False
    stop_worker(process)


@pytest.fixture
def celery_worker(celery_worker_process):
    """The session's worker (left idle when the test ends, see ``pytest_runtest_teardown``)."""
    return celery_worker_process


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Before any fixture is torn down, let the session's worker finish what the test sent it (a
    follow-up the test did not wait for, detection after an ingestion's commit): a task still running
    would hold row locks while the test database is flushed, and the flush fails or the next test
    finds its rows."""
    if _session_worker["running"] and _session_worker["sent"]:
        from defender.celery import app

        wait_for(lambda: workers_idle(app, replies=1), timeout=60, interval=0.3)
    _session_worker["sent"] = False
    yield


def _purge_queues(app) -> None:
    from django.conf import settings

    with app.connection_for_write() as broker:
        for queue in settings.CELERY_TASK_QUEUES:
            broker.default_channel.queue_purge(queue.name)


def workers_idle(app, replies: int | None = None) -> bool:
    """Nothing waits in ``app``'s queues and no worker has a task running, reserved or scheduled for
    a retry. ``replies``: how many workers run, to stop listening once each has answered."""
    from django.conf import settings

    with app.connection_for_read() as broker:
        for queue in settings.CELERY_TASK_QUEUES:
            _, waiting, _ = broker.default_channel.queue_declare(queue=queue.name)
            if waiting:
                return False
    inspect = app.control.inspect(timeout=1, limit=replies)
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
