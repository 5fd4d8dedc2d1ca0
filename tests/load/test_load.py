"""A bounded load test on loopback: several hundred concurrent page and API requests to gunicorn (served
as in production) while real Celery workers ingest CloudTrail trail files that arrive during the load.
Every response must be the expected one (no 5xx, no connection error, no truncated page) and, once
ingestion is done, every event is stored exactly once. Throughput and p95 are printed, not asserted.

Throttling: the load server's API rates are set far above the load (API_THROTTLE_RATE), since the
load is about correctness under concurrency; a second test keeps the default path honest by showing
that a low rate still answers 429 with the documented body across several gunicorn processes.

Sizes come from the environment, so `make soak` runs the same test bigger (scripts/soak.sh).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from connectors import services as connector_services
from connectors.models import Activity, Connector
from connectors.services import ConnectorSettings
from defender.api_auth import api_token_create
from defender.api_contract import ApiUserRateThrottle
from defender.celery import app
from policies.models import Policy
from policies.services import policies_install_builtin
from tests.aws_fixtures import aws_client
from tests.cloudtrail import record
from tests.load.conftest import PROXY_HEADERS
from tests.load.http_load import (
    PlannedRequest,
    fetch_json,
    is_api_error,
    is_json_list,
    is_page,
    run_load,
    send,
)
from tests.workers import start_worker, stop_worker, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # SQLite is not in scope: one writer at a time is the embedded default's design.
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="The load tests run on PostgreSQL only",
    ),
]

REQUESTS = int(os.environ.get("LOAD_REQUESTS", "600"))
CONCURRENCY = int(os.environ.get("LOAD_CONCURRENCY", "200"))
EVENTS = int(os.environ.get("LOAD_EVENTS", "2000"))
TRAIL_FILES = int(os.environ.get("LOAD_TRAIL_FILES", "20"))
WEB_WORKERS = int(os.environ.get("LOAD_WEB_WORKERS", "3"))
WEB_THREADS = int(os.environ.get("LOAD_WEB_THREADS", "4"))
CELERY_WORKERS = int(os.environ.get("LOAD_CELERY_WORKERS", "2"))
INGEST_TIMEOUT_SECONDS = float(os.environ.get("LOAD_INGEST_TIMEOUT", "300"))

REGIONS = ("us-east-1", "eu-west-1")
TRAIL_BUCKET = "defender-trail-logs"
# Recorded CloudTrail events of several shapes, so detection raises alerts while the pages are read.
EVENT_SHAPES = (
    "iam_user_api_call",
    "ec2_run_instances",
    "s3_put_bucket_acl",
    "assumed_role_sso",
    "iam_user_console_login_failure",
    "root_console_login_mfa",
)
# Far above anything the load sends: the load is about correctness, throttling has its own test.
UNTHROTTLED = "1000000/minute"
# Spreads the trail files' arrival over the load rather than over its first seconds.
DELIVERY_INTERVAL_SECONDS = 0.5


def trail_file(records: list[dict]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode())


def build_trail_files(account_id: str) -> list[tuple[str, bytes, list[str]]]:
    """TRAIL_FILES gzipped trail files holding EVENTS events between them, as (key, body, event ids),
    keys in delivery order (CloudTrail's keys sort by time within a region's prefix)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    per_file = -(-EVENTS // TRAIL_FILES)
    files = []
    for number in range(TRAIL_FILES):
        region = REGIONS[number % len(REGIONS)]
        written = now - timedelta(minutes=TRAIL_FILES - number)
        records = [
            record(
                EVENT_SHAPES[index % len(EVENT_SHAPES)],
                at=written - timedelta(seconds=index),
                region=region,
                event_id=f"load-{number:04d}-{index:05d}",
            )
            for index in range(number * per_file, min(EVENTS, (number + 1) * per_file))
        ]
        key = (
            f"AWSLogs/{account_id}/CloudTrail/{region}/{written:%Y/%m/%d}/"
            f"{account_id}_CloudTrail_{region}_{written:%Y%m%dT%H%MZ}_{number:06d}.json.gz"
        )
        files.append((key, trail_file(records), [item["eventID"] for item in records]))
    return files


class Delivery(threading.Thread):
    """CloudTrail and beat during the load: puts the trail files into S3 one after another, each
    followed by `connectors.poll_all` (what beat sends every INGEST_POLL_SECONDS)."""

    def __init__(self, endpoint_url: str, files: list[tuple[str, bytes, list[str]]]):
        super().__init__(name="trail-delivery")
        self.s3 = aws_client("s3", endpoint_url)
        self.files = files
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            for key, body, _ in self.files:
                self.s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=body)
                app.send_task("connectors.poll_all")
                time.sleep(DELIVERY_INTERVAL_SECONDS)
        except BaseException as error:  # re-raised in the test's thread by the assertion on .failure
            self.failure = error


def planned_requests(*, cookie: str, token: str) -> list[PlannedRequest]:
    """REQUESTS requests over the pages and API lists a reader uses, and a few a reader or a stranger
    must be refused, shuffled with a fixed seed."""
    session = {**PROXY_HEADERS, "Cookie": f"sessionid={cookie}"}
    bearer = {**PROXY_HEADERS, "Authorization": f"Bearer {token}"}
    page = {200: is_page}
    api_list = {200: is_json_list}
    kinds = [
        PlannedRequest("dashboard", "/", page, session),
        PlannedRequest("alerts", "/alerts/", page, session),
        PlannedRequest("alerts open high", "/alerts/?status=open&severity=high", page, session),
        PlannedRequest("activity log", "/activity/", page, session),
        PlannedRequest("activity by principal", "/activity/?principal=alice&period=24h", page, session),
        PlannedRequest(
            "activity by region", f"/activity/?region={REGIONS[1]}&result=succeeded", page, session
        ),
        PlannedRequest("activity search", "/activity/?q=RunInstances&period=7d", page, session),
        PlannedRequest("governance log", "/governance/", page, session),
        PlannedRequest("api alerts", "/api/v1/alerts/", api_list, bearer),
        PlannedRequest("api activities", "/api/v1/activities/?page_size=100", api_list, bearer),
        PlannedRequest(
            "api activities by region", f"/api/v1/activities/?region={REGIONS[0]}", api_list, bearer
        ),
        PlannedRequest("api connectors", "/api/v1/connectors/", api_list, bearer),
        PlannedRequest("api policies", "/api/v1/policies/", api_list, bearer),
        PlannedRequest("api governance", "/api/v1/governance/", api_list, bearer),
        PlannedRequest("api alerts by session", "/api/v1/alerts/?status=open", api_list, session),
        # The wrong role, no credentials and a wrong token are refused under load as at rest.
        PlannedRequest("users page as reader", "/settings/users/", {403: lambda body: True}, session),
        PlannedRequest("page signed out", "/alerts/", {302: lambda body: True}, PROXY_HEADERS),
        PlannedRequest(
            "api signed out", "/api/v1/alerts/", {401: is_api_error("not_authenticated")}, PROXY_HEADERS
        ),
        PlannedRequest(
            "api wrong token",
            "/api/v1/alerts/",
            {401: is_api_error("token_invalid")},
            {**PROXY_HEADERS, "Authorization": "Bearer dfa_not-a-token"},
        ),
        PlannedRequest(
            "api create policy as reader",
            "/api/v1/policies/",
            {403: is_api_error("permission_denied")},
            {**bearer, "Content-Type": "application/json"},
            method="POST",
            body=b'{"name": "Not allowed"}',
        ),
    ]
    plan = [kinds[index % len(kinds)] for index in range(REQUESTS)]
    random.Random(20261129).shuffle(plan)
    return plan


def api_event_ids(base_url: str, token: str) -> list[str]:
    """Every activity's event id, paged through /api/v1/activities/ by its cursor."""
    headers = {**PROXY_HEADERS, "Authorization": f"Bearer {token}"}
    path = "/api/v1/activities/?page_size=1000"
    event_ids: list[str] = []
    while path:
        status, page = fetch_json(base_url, path, headers)
        assert status == 200, page
        event_ids += [activity["event_id"] for activity in page["results"]]
        path = page["next"][page["next"].index("/api/") :] if page["next"] else ""
    return event_ids


@pytest.fixture
def trail_connector(aws, connector_user, admin, django_capture_on_commit_callbacks) -> Connector:
    """A connector reading the seeded account's trail bucket in two regions."""
    with django_capture_on_commit_callbacks():
        return connector_services.connector_save(
            config=ConnectorSettings(
                name="Production",
                access_key_id=connector_user.credentials.access_key_id,
                secret_access_key=connector_user.credentials.secret_access_key,
                regions=REGIONS,
                ingest_mode=Connector.IngestMode.S3_TRAIL,
                trail_bucket=TRAIL_BUCKET,
            ),
            by=admin,
        )


@pytest.fixture
def celery_workers(celery_worker_env, aws, tmp_path):
    """CELERY_WORKERS worker processes on every queue. The queues are emptied before and after: no
    other test's task runs here, and the detection still queued at the end (for activities the test
    database is about to forget) is not left to the next test."""
    app.control.purge()
    env = {**celery_worker_env, "AWS_ENDPOINT_URL": aws.endpoint_url}
    workers = []
    try:
        for index in range(CELERY_WORKERS):
            workers.append(start_worker(env, tmp_path / f"worker-{index}.log"))
        yield workers
    finally:
        for worker in workers:
            stop_worker(worker)
        app.control.purge()


def test_concurrent_pages_and_api_while_ingesting(
    aws, trail_connector, reader, start_web, celery_workers, capsys
):
    policies_install_builtin()
    # Detection counts these events as new activity, as after a fresh install.
    Policy.objects.update(enabled=True, active_since=datetime(2000, 1, 1, tzinfo=UTC))
    session = Client()
    session.force_login(reader)
    token = api_token_create(user=reader, name="load test", expires_in_days=30).secret
    web = start_web(
        workers=WEB_WORKERS,
        threads=WEB_THREADS,
        env={"API_THROTTLE_RATE": UNTHROTTLED, "API_ANON_THROTTLE_RATE": UNTHROTTLED},
    )
    files = build_trail_files(trail_connector.account_id)
    seeded = {event_id for _, _, event_ids in files for event_id in event_ids}
    delivery = Delivery(aws.endpoint_url, files)

    plan = planned_requests(cookie=session.cookies["sessionid"].value, token=token)

    delivery.start()
    # The load starts once ingestion has: files keep arriving and being read while it runs.
    wait_for(Activity.objects.exists, timeout=INGEST_TIMEOUT_SECONDS)
    stored_before_load = Activity.objects.count()
    report = run_load(web.base_url, plan, concurrency=CONCURRENCY)
    stored_during_load = Activity.objects.count() - stored_before_load
    delivery.join()
    assert delivery.failure is None, delivery.failure

    # Beat keeps polling: a file that arrived while its region was being read is picked up next time.
    def ingested() -> bool:
        if Activity.objects.count() >= len(seeded):
            return True
        app.send_task("connectors.poll_all")
        return False

    wait_for(ingested, timeout=INGEST_TIMEOUT_SECONDS, interval=2)
    with capsys.disabled():
        print(
            f"\nload: {report.summary()}; {CONCURRENCY} concurrent clients, gunicorn {WEB_WORKERS}x"
            f"{WEB_THREADS}; {stored_during_load} of {len(seeded)} events stored during the load"
        )

    assert not report.server_errors, report.describe_failures()
    assert not report.connection_errors, report.describe_failures()
    assert not report.incorrect, report.describe_failures()
    assert len(report.outcomes) == REQUESTS
    # The load did run beside ingestion, not before or after it.
    assert stored_during_load > 0
    assert Activity.objects.count() == len(seeded)
    assert set(Activity.objects.values_list("event_id", flat=True)) == seeded
    assert Connector.objects.get(pk=trail_connector.pk).events_ingested == len(seeded)
    served = api_event_ids(web.base_url, token)
    assert len(served) == len(seeded) and set(served) == seeded
    log = web.log()
    # Django logs every 5xx at ERROR, gunicorn a worker's crash or timeout at ERROR or CRITICAL (refused
    # requests are logged at WARNING, with their traceback).
    assert not [
        line for line in log.splitlines() if " ERROR " in line or "[ERROR]" in line or "[CRITICAL]" in line
    ]
    # No gunicorn worker died or timed out and was replaced during the load.
    assert log.count("Booting worker") == WEB_WORKERS, log


def test_throttling_still_answers_429_across_web_processes(reader, start_web):
    rate = 10
    web = start_web(workers=2, threads=2, env={"API_THROTTLE_RATE": f"{rate}/minute"})
    token = api_token_create(user=reader, name="throttle test", expires_in_days=30).secret
    # Redis outlives the test database: an earlier run's requests by a user of the same id still count.
    cache.delete(ApiUserRateThrottle.cache_format % {"scope": ApiUserRateThrottle.scope, "ident": reader.pk})
    request = PlannedRequest(
        "api alerts",
        "/api/v1/alerts/",
        {200: is_json_list, 429: is_api_error("throttled")},
        {**PROXY_HEADERS, "Authorization": f"Bearer {token}"},
    )

    report = run_load(web.base_url, [request] * (rate * 4), concurrency=rate * 2)
    after = send(web.base_url, request)

    assert not report.incorrect, report.describe_failures()
    statuses = [outcome.status for outcome in report.outcomes]
    print(f"throttle: {statuses.count(200)} of {len(statuses)} let through at {rate}/minute")
    # The counter lives in Redis, shared by both gunicorn processes: the rate holds for the user, not
    # per process. DRF's throttle reads and then writes the count, so requests answered at the same
    # moment may each see the same count: a few more than the rate may pass a burst, never fewer.
    # With a counter per process, each of the two would let ``rate`` through.
    assert rate <= statuses.count(200) < 2 * rate
    refused = [outcome for outcome in report.outcomes if outcome.status == 429] + [after]
    assert after.status == 429 and after.body_ok
    assert all(outcome.retry_after and int(outcome.retry_after) > 0 for outcome in refused)
