"""A PostgreSQL cluster and a Redis server for each reliability test, migrated and empty, and the
environment that points a worker or a Django process at them and at the local AWS emulator."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery

from defender.worker_process import ROOT
from tests.reliability.stack import Postgres, Redis, available

unavailable = available()
if unavailable:
    pytest.skip(unavailable, allow_module_level=True)


@dataclass
class Stack:
    postgres: Postgres
    redis: Redis
    env: dict[str, str]
    broker: Celery
    directory: Path

    def send(self, task: str, *args, queue: str) -> None:
        """What beat or a web process does: send ``task`` by name to this stack's broker."""
        self.broker.send_task(task, args=args, queue=queue)


@pytest.fixture
def stack(aws, celery_worker_env) -> Iterator[Stack]:
    # Not under pytest's temporary directory, which only root may enter: the postgres user runs the
    # cluster.
    directory = Path(tempfile.mkdtemp(prefix="defender-reliability-"))
    directory.chmod(0o755)
    postgres = Postgres(directory / "pg").start()
    redis = Redis(directory / "redis").start()
    env = {
        **celery_worker_env,
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "VAR_DIR": str(directory / "var"),
    }
    # Not the current app: the product's tasks in this process keep sending to the session's broker.
    broker = Celery("reliability-test", broker=redis.url, set_as_current=False)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        yield Stack(postgres, redis, env, broker, directory)
    finally:
        broker.close()
        redis.stop()
        postgres.stop()
        shutil.rmtree(directory, ignore_errors=True)
