"""Ingestion through CloudTrail's LookupEvents API, one region at a time.

AWS allows 2 LookupEvents requests per second per account and region and returns at most 50
events per page, newest first. Each region is read from its checkpoint (first run: the connector's
history window) up to now, page by page; every page is stored before the next is asked for, and the
checkpoint moves to "now" only after the whole window is stored. The next run starts OVERLAP before
the checkpoint, so events that reach CloudTrail late are still read (and duplicates are dropped).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from connectors import aws
from connectors.aws import ErrorKind
from connectors.ingestion.errors import ConnectorBroken, RegionNotEnabled, TransientAwsError
from connectors.ingestion.history import detection_release
from connectors.ingestion.store import ConnectorDeleted, StoreResult, store_records
from connectors.models import Connector, IngestCheckpoint
from connectors.services import connector_credentials, connector_mark_error
from connectors.validation import explain
from defender.ipintel.classify import IpClassifier

OVERLAP = timedelta(minutes=15)
# A running task refreshes its claim after every page; a claim older than this belongs to a dead worker.
CLAIM_EXPIRY = timedelta(seconds=settings.INGEST_CLAIM_SECONDS)
DISABLED_REGION_RETRY = timedelta(hours=24)


class Pacer:
    """Keeps requests to one region within AWS's rate so that none is throttled.

    AWS accepts at most ``per_second`` requests in any one-second window, and counts a request at
    some moment between its sending and its answer, which a busy network, worker or service delays.
    So the request that could complete a window is sent a full window after the *answer* to the one
    ``limit`` requests before it: however late the service counted either, the two never share a
    window. That costs one round trip per window, where a fixed margin on the spacing was overrun by
    any delay longer than the margin; a throttled request costs a retry backoff of a second or more.
    """

    def __init__(self, per_second: float):
        self.limit = max(1, int(per_second))
        self.window = self.limit / per_second
        self.answered: deque[float] = deque(maxlen=self.limit)

    @contextmanager
    def request(self) -> Iterator[None]:
        """Wait until a request may be sent, then time its answer (a failed one counts too)."""
        if len(self.answered) == self.limit:
            delay = self.answered[0] + self.window - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        try:
            yield
        finally:
            self.answered.append(time.monotonic())


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
        result = _read_window(connector, checkpoint, now)
    except RegionNotEnabled:
        result = None
    except ConnectorDeleted:
        return None
    except ConnectorBroken as error:
        connector_mark_error(connector_id=connector.pk, reason=str(error))
        return None
    finally:
        IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(running_since=None)
    detection_release(connector_id=connector.pk)
    return result


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
        try:
            with pacer.request():
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
