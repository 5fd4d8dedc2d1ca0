"""Faults while the workers are busy, on a PostgreSQL and a Redis of these tests' own (restarted here,
so the session's shared ones are left alone) and the local AWS emulator: PostgreSQL restarted during
ingestion, Redis restarted under load, workers SIGKILLed in the middle of ingestion, detection and a
governance run, AWS answering 500s, throttling and stalling. After recovery every event is stored
exactly once, every alert raised exactly once, every governance run executed at most once with its
final state recorded.

Beat is played by the test (it sends what beat would, by name), since the real one would also run
the schedule's other work (threat feeds from the internet, inventories)."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
import pytest

from defender.worker_process import stop_workers
from tests.aws_fixtures import ROOT_CREDENTIALS, aws_client
from tests.cloudtrail import series
from tests.policies.activities import call
from tests.reliability.stack import django_run, pool_children
from tests.workers import start_worker, stop_worker, wait_for, workers_idle

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = 1000
# One event in ten changes a bucket ACL, which the built-in S3 policy alerts on, by five people.
ALERTING_EVERY = 10
REGION = "us-east-1"
DETECTION_QUEUES = "detect,default,governance"
CLAIM_SECONDS = 3
# Beat's ingestion poll, just longer than a claim: a poll finds the region of a failed task free.
POLL_SECONDS = CLAIM_SECONDS + 1

SETUP_CONNECTOR = """
from connectors import services
from connectors.models import Connector
from connectors.services import ConnectorSettings
from policies.models import Policy
from policies.services import policies_install_builtin

policies_install_builtin()
# Anomaly detectors learn from what they observe: a second pass would teach them twice.
Policy.objects.exclude(type=Policy.Type.ACTIVITY).update(enabled=False)
connector = services.connector_save(
    config=ConnectorSettings(
        name="Production", access_key_id=key, secret_access_key=secret, regions=(region,)
    ),
    by=None,
)
# Detection as activities arrive, as after a connector's history import (which holds it until the end).
Connector.objects.filter(pk=connector.pk).update(detection_held=False)
result = connector.pk
"""

# Every alert with what it holds: a redelivered detection that counted twice, or one that was lost,
# shows here.
ALERTS = """
from alerts.models import Alert

result = sorted(
    [
        alert.policy_id,
        alert.dedup_key,
        alert.activity_count,
        sorted(alert.activities.values_list("pk", flat=True)),
    ]
    for alert in Alert.objects.all()
)
"""

UNALERTED_ACL_CHANGES = """
SELECT count(*) FROM connectors_activity AS activity WHERE event_name = 'PutBucketAcl'
AND NOT EXISTS (SELECT 1 FROM alerts_alert_activities AS link WHERE link.activity_id = activity.id)
"""

PENDING_DETECTIONS = "SELECT count(*) FROM connectors_pendingdetection"

DETECT_AGAIN = """
from alerts.services import detect_activities
from connectors.models import Activity

detect_activities(activity_ids=list(Activity.objects.values_list("pk", flat=True)))
result = None
"""


def _events(count: int = EVENTS) -> list[dict]:
    events = series(count, region=REGION)
    for i in range(0, count, ALERTING_EVERY):
        acl_change = call(
            "PutBucketAcl",
            "s3.amazonaws.com",
            region=REGION,
            user=f"user-{i % 5}",
            requestParameters={"bucketName": f"bucket-{i}"},
        )
        events[i] = {**acl_change, "eventID": events[i]["eventID"], "eventTime": events[i]["eventTime"]}
    return events


def _count(stack, sql: str) -> int | None:
    """A count read straight from the stack's database; None while it is down or restarting."""
    try:
        return stack.postgres.scalar(sql)
    except psycopg.OperationalError:
        return None


def _activities(stack) -> int:
    return _count(stack, "SELECT count(*) FROM connectors_activity") or 0


def _kill_group(worker) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


@contextmanager
def _policies_held(stack):
    """Hold every policy row, as a long detection in another worker would: detection, which raises
    alerts holding its policy's row, waits inside its task until this ends."""
    with stack.postgres.connect() as conn:
        conn.execute("SELECT id FROM policies_policy FOR UPDATE")
        yield
        conn.rollback()


def _lock_waiters(stack) -> int:
    return _count(stack, "SELECT count(*) FROM pg_locks WHERE NOT granted") or 0


def _idle(stack) -> bool:
    return workers_idle(stack.broker)


def _count_stands_still(stack, seconds: float):
    """A ``wait_for`` condition: the activity count has not changed for ``seconds``."""
    last = {"count": -1, "since": time.monotonic()}

    def still() -> bool:
        count = _activities(stack)
        if count != last["count"]:
            last["count"], last["since"] = count, time.monotonic()
        return time.monotonic() - last["since"] >= seconds

    return still


def test_events_and_alerts_are_stored_once_across_restarts_kills_and_aws_faults(
    stack, aws, connector_user, tmp_path
):
    aws.store.add(_events())
    django_run(
        stack.env,
        SETUP_CONNECTOR,
        key=connector_user.credentials.access_key_id,
        secret=connector_user.credentials.secret_access_key,
        region=REGION,
    )
    env = {**stack.env, "INGEST_CLAIM_SECONDS": str(CLAIM_SECONDS)}

    last_poll = {"at": -POLL_SECONDS}

    def poll() -> None:
        """Beat's ingestion poll, sent at most every POLL_SECONDS: the conditions that call it are
        checked more often, so that a count is seen when it is reached, not up to a poll later
        (which could be every event, leaving nothing for the kill below)."""
        if time.monotonic() - last_poll["at"] >= POLL_SECONDS:
            last_poll["at"] = time.monotonic()
            stack.send("connectors.poll_all", queue="ingest")

    # AWS fails the first calls, more often than botocore retries within one task: the task retries.
    aws.faults.fail_next(10)
    workers = []

    def start(name: str, queues: str):
        # Named apart, so that each answers the test's inspection under its own name.
        worker = start_worker(env, tmp_path / f"{name}.log", queues=queues, name=f"{name}@%h")
        workers.append(worker)
        return worker

    try:
        with ThreadPoolExecutor() as starting:
            ingest, detect = starting.map(start, ("ingest-1", "detect"), ("ingest", DETECTION_QUEUES))
        wait_for(lambda: _activities(stack) >= 200, timeout=60)

        # Detection is caught inside its task, waiting for a policy row, when its process is killed.
        with _policies_held(stack):
            wait_for(lambda: _lock_waiters(stack) > 0, timeout=30)
            children = pool_children(detect)
            assert children
            for child in children:
                os.kill(child, signal.SIGKILL)

        # Throttling for a while, then a stalled call during which PostgreSQL restarts.
        aws.throttle.limit = 1
        wait_for(lambda: aws.throttle.throttled >= 5, timeout=30)
        aws.throttle.limit = None
        aws.faults.stall_next(1, 3)
        wait_for(lambda: aws.faults.stalled == 1, timeout=30)
        stack.postgres.restart()
        # Beat's next poll: a failed task's claim on the region expires, and the region is read again.
        wait_for(lambda: poll() or _activities(stack) >= 500, timeout=90)

        stack.redis.restart(down_seconds=3)
        # Ingestion goes on once the detection it was sending during the outage reached the broker
        # (a kill before that loses it: see the expected failure below).
        resumed = _activities(stack)
        wait_for(lambda: _activities(stack) >= max(650, resumed + 100), timeout=60)

        _kill_group(ingest)
        partial = _activities(stack)
        assert partial < EVENTS, "the worker was killed before it had stored everything"
        start("ingest-2", "ingest")
        wait_for(
            lambda: (
                poll()
                or _count(stack, "SELECT count(*) FROM connectors_ingestcheckpoint WHERE backfill_done")
            ),
            timeout=90,
        )
        # Detection has caught up once every task is done: nothing waits in the broker, the worker is idle.
        wait_for(lambda: _idle(stack), timeout=60)
    finally:
        stop_workers(workers)

    assert _count(stack, "SELECT count(*) FROM connectors_activity") == EVENTS
    assert _count(stack, "SELECT count(DISTINCT event_id) FROM connectors_activity") == EVENTS
    assert _count(stack, "SELECT events_ingested FROM connectors_connector") == EVENTS

    alerts = django_run(stack.env, ALERTS)
    assert alerts, "the bucket ACL changes raised alerts"
    assert _count(stack, UNALERTED_ACL_CHANGES) == 0
    assert len({key for _, key, _, _ in alerts}) == len(alerts)
    assert all(count == len(linked) for _, _, count, linked in alerts), "an activity counted twice"
    raised_for = [(policy, activity) for policy, _, _, linked in alerts for activity in linked]
    assert len(set(raised_for)) == len(raised_for), "an activity in two alerts of one policy"
    # Detection run once more over everything stored finds exactly the alerts raised: none was lost.
    django_run(stack.env, DETECT_AGAIN)
    assert django_run(stack.env, ALERTS) == alerts


def test_detection_is_not_lost_when_ingestion_is_killed_while_the_broker_is_down(stack, aws, connector_user):
    """The worker dies between committing a page and sending its detection; reading the events again
    finds them stored, so only the pending-detection record (and its janitor) brings detection back."""
    aws.store.add(_events(200))
    django_run(
        stack.env,
        SETUP_CONNECTOR,
        key=connector_user.credentials.access_key_id,
        secret=connector_user.credentials.secret_access_key,
        region=REGION,
    )
    env = {**stack.env, "INGEST_CLAIM_SECONDS": str(CLAIM_SECONDS), "DETECTION_RESEND_SECONDS": "5"}
    logs = stack.directory / "logs"
    logs.mkdir()
    workers = []
    try:
        workers.append(start_worker(env, logs / "ingest-1.log", queues="ingest", name="ingest-1@%h"))
        wait_for(lambda: _activities(stack) >= 50, timeout=60)
        stack.redis.shutdown()
        # Storing stops at the first commit whose detection cannot be sent: the page stored next, or
        # the one committed just before the broker went down. Either way, once the count stands still
        # (nothing else blocks with the broker down), a committed page's detection waits for the
        # broker when the worker is killed.
        wait_for(_count_stands_still(stack, seconds=5), timeout=45, interval=0.5)
        _kill_group(workers[0])
        assert _activities(stack) < 200
        stack.redis.start()
        workers.append(start_worker(env, logs / "ingest-2.log", queues="ingest", name="ingest-2@%h"))
        workers.append(start_worker(env, logs / "detect.log", queues=DETECTION_QUEUES, name="detect@%h"))
        wait_for(
            lambda: (
                stack.send("connectors.poll_all", queue="ingest")
                or _count(stack, "SELECT count(*) FROM connectors_ingestcheckpoint WHERE backfill_done")
            ),
            timeout=60,
            interval=POLL_SECONDS,
        )
        # The janitor beat runs every minute: here as often as the test polls.
        wait_for(
            lambda: (
                stack.send("connectors.resend_detection", queue="default")
                or _count(stack, PENDING_DETECTIONS) == 0
            ),
            timeout=60,
            interval=POLL_SECONDS,
        )
        wait_for(lambda: _idle(stack), timeout=60)
    finally:
        stop_workers(workers)
    assert _count(stack, "SELECT count(*) FROM connectors_activity") == 200
    assert _count(stack, UNALERTED_ACL_CHANGES) == 0


BUCKET = "payments-public"
ACL_READ = f"GET /{BUCKET}?acl"
ACL_WRITE = f"PUT /{BUCKET}?acl"

SETUP_AUTOMATIC_GOVERNANCE = """
from connectors.models import Connector
from policies.models import Policy
from policies.services import policies_install_builtin
from tests.policies.activities import call, store

policies_install_builtin()
Policy.objects.exclude(template_key="aws_s3_config_changes").update(enabled=False)
Policy.objects.filter(template_key="aws_s3_config_changes").update(
    governance_actions=["s3_make_private"], governance_automatic=True
)
connector = Connector(
    name="Production",
    status=Connector.Status.CONNECTED,
    account_id="123456789012",
    access_key_id=key,
    governance_enabled=True,
)
connector.secret_access_key = secret
connector.save()
# Stored as ingestion stores it: detection is sent to the stack's broker, the rest follows from there.
store(connector, [call("PutBucketAcl", "s3.amazonaws.com", requestParameters={"bucketName": bucket})])
result = None
"""

UNFINISHED_RUNS = "SELECT count(*) FROM governance_governancerun WHERE status IN ('pending', 'running')"

GOVERNANCE_LOG = """
from alerts.models import AlertEvent
from governance.models import GovernanceRun

result = {
    "runs": list(GovernanceRun.objects.values("status", "attempts", "error")),
    "history": list(
        AlertEvent.objects.filter(kind=AlertEvent.Kind.GOVERNANCE)
        .order_by("pk")
        .values_list("message", flat=True)
    ),
}
"""


def _public_bucket(aws) -> None:
    s3 = aws_client("s3", aws.endpoint_url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_acl(Bucket=BUCKET, ACL="public-read")


def test_a_governance_run_whose_worker_is_killed_mid_action_is_not_executed_again(stack, aws, tmp_path):
    _public_bucket(aws)
    django_run(
        stack.env,
        SETUP_AUTOMATIC_GOVERNANCE,
        key=ROOT_CREDENTIALS.access_key_id,
        secret=ROOT_CREDENTIALS.secret_access_key,
        bucket=BUCKET,
    )
    aws.requests.clear()
    env = {**stack.env, "GOVERNANCE_STUCK_SECONDS": "2"}
    # AWS receives the run's ACL change and is slow to answer it: the worker dies waiting, never
    # learning that the change was made.
    aws.faults.stall_next(1, 3, request=ACL_WRITE)
    first = start_worker(env, tmp_path / "first.log", queues=DETECTION_QUEUES)
    try:
        wait_for(lambda: aws.faults.stalled == 1, timeout=60)
        _kill_group(first)
    finally:
        stop_worker(first)
    assert _count(stack, UNFINISHED_RUNS) == 1

    second = start_worker(env, tmp_path / "second.log", queues=DETECTION_QUEUES)
    try:
        # Beat's janitor, every few minutes in production.
        wait_for(
            lambda: (
                stack.send("governance.requeue_stuck", queue="governance")
                or _count(stack, UNFINISHED_RUNS) == 0
            ),
            timeout=60,
            interval=1,
        )
        for _ in range(3):
            stack.send("governance.requeue_stuck", queue="governance")
        wait_for(lambda: _idle(stack), timeout=60)
    finally:
        stop_worker(second)

    log = django_run(stack.env, GOVERNANCE_LOG)
    assert (aws.requests[ACL_READ], aws.requests[ACL_WRITE]) == (1, 1), "the run was executed once"
    [run] = log["runs"]
    assert run["status"] == "failed" and run["attempts"] == 1
    assert "may have taken effect" in run["error"]
    assert log["history"][-1].endswith(run["error"])
