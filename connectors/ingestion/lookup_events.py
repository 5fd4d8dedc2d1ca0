"""Ingestion through CloudTrail's LookupEvents API, one region at a time.

AWS allows 2 LookupEvents requests per second per account and region and returns at most 50
events per page, newest first. Each region is read from its checkpoint (first run: the connector's
history window) up to now, page by page; every page is stored before the next is asked for, and the
checkpoint moves to "now" only after the whole window is stored. The next run starts OVERLAP before
the checkpoint, so events that reach CloudTrail late are still read (and duplicates are dropped).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from connectors import aws
from connectors.aws import ErrorKind
from connectors.ingestion.errors import ConnectorBroken, RegionNotEnabled, TransientAwsError
from connectors.ingestion.store import StoreResult, store_records
from connectors.models import Connector, IngestCheckpoint
from connectors.services import connector_credentials, connector_mark_error
from connectors.validation import explain
from defender.ipintel.classify import IpClassifier

OVERLAP = timedelta(minutes=15)
# A running task refreshes its claim after every page; a claim older than this belongs to a dead worker.
CLAIM_EXPIRY = timedelta(seconds=settings.INGEST_CLAIM_SECONDS)
DISABLED_REGION_RETRY = timedelta(hours=24)
PACE_MARGIN = 1.05


class Pacer:
    """Keeps requests to one region under AWS's rate so that throttling is the exception."""

    def __init__(self, per_second: float):
        # A hair slower than the limit: AWS counts in a sliding window, and a request that arrives a
        # millisecond early is throttled and then backed off for far longer than the margin costs.
        self.interval = PACE_MARGIN / per_second
        self.next_at = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self.next_at:
            time.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


def claim(checkpoint: IngestCheckpoint, now: datetime) -> bool:
    """Only one task reads a region at a time; a claim left by a killed worker expires."""
    stale = now - CLAIM_EXPIRY
    return (
        IngestCheckpoint.objects.filter(pk=checkpoint.pk)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=stale))
        .update(running_since=now)
        == 1
    )


def ingest_region(*, connector_id: int, region: str, now: datetime | None = None) -> StoreResult | None:
    connector = Connector.objects.filter(pk=connector_id).exclude(status=Connector.Status.DISABLED).first()
    if connector is None:
        return None
    now = now or timezone.now()
    checkpoint, _ = IngestCheckpoint.objects.get_or_create(connector=connector, region=region)
    if checkpoint.region_disabled_until and checkpoint.region_disabled_until > now:
        return None
    if not claim(checkpoint, now):
        return None
    try:
        return _read_window(connector, checkpoint, now)
    except RegionNotEnabled:
        return None
    except ConnectorBroken as error:
        connector_mark_error(connector_id=connector.pk, reason=str(error))
        return None
    finally:
        IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(running_since=None)


def _read_window(connector: Connector, checkpoint: IngestCheckpoint, now: datetime) -> StoreResult:
    if checkpoint.position is None:
        start = now - timedelta(days=connector.history_days)
        checkpoint.backfill_start, checkpoint.backfill_end = start, now
        checkpoint.save(update_fields=["backfill_start", "backfill_end"])
    else:
        start = checkpoint.position - OVERLAP
    client = aws.client(
        "cloudtrail",
        connector_credentials(connector),
        region=checkpoint.region,
        endpoint_url=connector.endpoint_url,
    )
    pacer = Pacer(settings.LOOKUP_EVENTS_PER_SECOND)
    classifier = IpClassifier.load()
    total = StoreResult()
    params: dict = {"StartTime": start, "EndTime": now, "MaxResults": 50}
    source = f"LookupEvents {checkpoint.region}"
    while True:
        pacer.wait()
        try:
            page = client.lookup_events(**params)
        except (ClientError, BotoCoreError) as error:
            _raise_for(error, connector, checkpoint, now)
        records = [_parse_event(event) for event in page.get("Events", [])]
        result = store_records(connector=connector, records=records, source=source, classifier=classifier)
        total.merge(result)
        times = [event["EventTime"] for event in page.get("Events", []) if event.get("EventTime")]
        progress = {"backfill_reached": min(times)} if times and not checkpoint.backfill_done else {}
        IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(running_since=timezone.now(), **progress)
        token = page.get("NextToken")
        if not token:
            break
        params["NextToken"] = token
    IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(
        position=now,
        backfill_done=True,
        backfill_reached=checkpoint.backfill_start or start,
        last_run_at=timezone.now(),
        last_error="",
        region_disabled_until=None,
    )
    return total


def _parse_event(event: dict):
    """The record is CloudTrailEvent, a JSON string; a broken one is passed on as text to be rejected."""
    raw = event.get("CloudTrailEvent")
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return raw


def _raise_for(error: Exception, connector: Connector, checkpoint: IngestCheckpoint, now: datetime):
    failure = aws.classify(error)
    IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(last_error=str(failure)[:2000], last_run_at=now)
    if failure.transient:
        raise TransientAwsError(str(failure)) from error
    # AWS answers an opt-in region the account has not enabled as if the key were unknown.
    region_off = failure.kind == ErrorKind.INVALID_CREDENTIALS and checkpoint.region != aws.DEFAULT_REGION
    if region_off and _credentials_work_at_home(connector):
        IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(
            region_disabled_until=now + DISABLED_REGION_RETRY
        )
        raise RegionNotEnabled(checkpoint.region) from error
    advice = explain(failure, permission="cloudtrail:LookupEvents", principal=connector.caller_arn)
    raise ConnectorBroken(f"Reading CloudTrail events in {checkpoint.region} failed. {advice}") from error


def _credentials_work_at_home(connector: Connector) -> bool:
    try:
        aws.client(
            "sts",
            connector_credentials(connector),
            endpoint_url=connector.endpoint_url,
            retry_mode="standard",
            max_attempts=2,
        ).get_caller_identity()
    except (ClientError, BotoCoreError):
        return False
    return True
