"""A worker SIGKILLed in the middle of a backfill: after a new worker takes over, every event is
stored exactly once."""

import os
import signal
import time

import pytest

from connectors import services
from connectors.models import Activity, Connector, IngestCheckpoint
from connectors.services import ConnectorSettings
from connectors.tasks import ingest_region_task
from tests.cloudtrail import series
from tests.workers import start_worker, stop_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "ingest-fault-test"
EVENTS = 1500


def test_killed_worker_loses_and_duplicates_nothing(
    aws, connector_user, admin, celery_worker_env, tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        connector = services.connector_save(
            config=ConnectorSettings(
                name="Production",
                access_key_id=connector_user.credentials.access_key_id,
                secret_access_key=connector_user.credentials.secret_access_key,
                regions=("us-east-1",),
            ),
            by=admin,
        )
    aws.store.add(series(EVENTS))
    env = {**celery_worker_env, "AWS_ENDPOINT_URL": aws.endpoint_url, "INGEST_CLAIM_SECONDS": "3"}
    first = start_worker(env, tmp_path / "first.log", queues=QUEUE)
    try:
        ingest_region_task.apply_async((connector.pk, "us-east-1"), queue=QUEUE)
        wait_for(lambda: Activity.objects.count() >= 200, timeout=60)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        stop_worker(first)
    partial = Activity.objects.count()
    assert 0 < partial < EVENTS
    time.sleep(3.5)
    second = start_worker(env, tmp_path / "second.log", queues=QUEUE)
    try:
        # What beat does at the next poll: the dead worker's claim has expired, the region is read again.
        ingest_region_task.apply_async((connector.pk, "us-east-1"), queue=QUEUE)
        wait_for(
            lambda: IngestCheckpoint.objects.filter(connector=connector, backfill_done=True).exists(),
            timeout=90,
        )
    finally:
        stop_worker(second)
    assert Activity.objects.count() == EVENTS
    assert Activity.objects.values("event_id").distinct().count() == EVENTS
    assert Connector.objects.get(pk=connector.pk).events_ingested == EVENTS
