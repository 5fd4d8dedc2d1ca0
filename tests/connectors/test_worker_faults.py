"""A worker SIGKILLed in the middle of a backfill (LookupEvents, or trail files stored by two writer
connections at once): after a new worker takes over, every event is stored exactly once."""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from connectors import services
from connectors.models import Activity, Connector, IngestCheckpoint, TrailFileRead
from connectors.services import ConnectorSettings
from connectors.tasks import ingest_region_task
from tests.aws_fixtures import aws_client
from tests.cloudtrail import series
from tests.connectors.test_ingestion import trail_file
from tests.workers import start_worker, stop_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "ingest-fault-test"
EVENTS = 1500


def killed_while_storing(env, log, connector: Connector, stored: int) -> None:
    """Start a worker on the connector's region and SIGKILL it once ``stored`` activities are in."""
    worker = start_worker(env, log, queues=QUEUE)
    try:
        ingest_region_task.apply_async((connector.pk, "us-east-1"), queue=QUEUE)
        wait_for(lambda: Activity.objects.count() >= stored, timeout=90, interval=0.05)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        stop_worker(worker)


def read_again(env, log, connector: Connector) -> None:
    """What beat does at the next poll: the dead worker's claim has expired (INGEST_CLAIM_SECONDS=3),
    and a new worker reads the region again until its backfill is done."""
    time.sleep(3.5)
    worker = start_worker(env, log, queues=QUEUE)
    try:
        ingest_region_task.apply_async((connector.pk, "us-east-1"), queue=QUEUE)
        wait_for(
            lambda: IngestCheckpoint.objects.filter(connector=connector, backfill_done=True).exists(),
            timeout=120,
        )
    finally:
        stop_worker(worker)


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
    killed_while_storing(env, tmp_path / "first.log", connector, stored=200)
    partial = Activity.objects.count()
    assert 0 < partial < EVENTS
    read_again(env, tmp_path / "second.log", connector)
    assert Activity.objects.count() == EVENTS
    assert Activity.objects.values("event_id").distinct().count() == EVENTS
    assert Connector.objects.get(pk=connector.pk).events_ingested == EVENTS


TRAIL_FILES = 80
RECORDS_PER_FILE = 500


def test_killed_trail_reader_leaves_a_prefix_of_the_files_stored_and_marked(
    aws, connector_user, celery_worker_env, tmp_path
):
    # Made directly, not by connector_save: its first poll would go to whatever worker the session runs.
    connector = Connector(
        name="Organization trail",
        status=Connector.Status.CONNECTED,
        account_id="123456789012",
        access_key_id=connector_user.credentials.access_key_id,
        regions=["us-east-1"],
        ingest_mode=Connector.IngestMode.S3_TRAIL,
        trail_bucket="org-trail",
    )
    connector.secret_access_key = connector_user.credentials.secret_access_key
    connector.save()
    s3 = aws_client("s3", aws.endpoint_url)
    s3.create_bucket(Bucket="org-trail")
    prefix = f"AWSLogs/123456789012/CloudTrail/us-east-1/{timezone.now():%Y/%m/%d}/"
    keys = [f"{prefix}{number:03}_CloudTrail_us-east-1.json.gz" for number in range(TRAIL_FILES)]
    for number, key in enumerate(keys):
        events = series(RECORDS_PER_FILE, step=timedelta(seconds=1))
        for event in events:
            event["eventID"] = f"{number}-{event['eventID']}"
        s3.put_object(Bucket="org-trail", Key=key, Body=trail_file(events))
    total = TRAIL_FILES * RECORDS_PER_FILE
    env = {**celery_worker_env, "AWS_ENDPOINT_URL": aws.endpoint_url, "INGEST_CLAIM_SECONDS": "3"}

    # Ten files to a transaction: killed after two or three of its eight transactions.
    killed_while_storing(env, tmp_path / "first.log", connector, stored=2 * 10 * RECORDS_PER_FILE)
    stored = Activity.objects.count()
    assert 0 < stored < total
    marked = sorted(TrailFileRead.objects.filter(connector=connector).values_list("key", flat=True))
    # Two writers commit in the order the files were listed: the files read are the first ones, with
    # exactly their events stored and counted.
    assert marked == keys[: len(marked)]
    assert TrailFileRead.objects.aggregate(records=Sum("records"))["records"] == stored
    assert Connector.objects.get(pk=connector.pk).events_ingested == stored
    checkpoint = IngestCheckpoint.objects.get(connector=connector)
    assert checkpoint.last_key in ("", *marked)

    read_again(env, tmp_path / "second.log", connector)
    assert IngestCheckpoint.objects.get(connector=connector).last_key == keys[-1]
    assert Activity.objects.count() == total
    assert Activity.objects.values("event_id").distinct().count() == total
    assert Connector.objects.get(pk=connector.pk).events_ingested == total
    assert TrailFileRead.objects.filter(connector=connector).count() == TRAIL_FILES
