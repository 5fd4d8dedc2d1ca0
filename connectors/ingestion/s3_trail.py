"""Ingestion from the gzipped CloudTrail log files a trail delivers to S3 (large accounts,
organization trails). Keys sort by time within a region's prefix, so each region is listed from the
last key read; files are stored and marked read together, several to a transaction (up to
RECORDS_PER_TRANSACTION records), so none is read twice."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.db import transaction
from django.utils import timezone

from connectors import aws
from connectors.aws import ErrorKind
from connectors.ingestion.errors import ConnectorBroken, TransientAwsError
from connectors.ingestion.lookup_events import claim
from connectors.ingestion.normalize import BatchResult, iter_records, normalize_batch
from connectors.ingestion.store import (
    ConnectorDeleted,
    PreparedBatches,
    StoreResult,
    StoreWriter,
    rare_collections,
    store_prepared,
)
from connectors.models import Connector, IngestCheckpoint, TrailFileRead
from connectors.services import connector_credentials, connector_mark_error
from connectors.validation import explain
from defender.ipintel.classify import IpClassifier

RECORDS_PER_TRANSACTION = 5000
FETCH_THREADS = 8


def region_prefix(connector: Connector, region: str) -> str:
    base = connector.trail_prefix.strip("/")
    return f"{base + '/' if base else ''}AWSLogs/{connector.account_id}/CloudTrail/{region}/"


def ingest_trail_region(*, connector_id: int, region: str, now: datetime | None = None) -> StoreResult | None:
    connector = Connector.objects.filter(pk=connector_id).exclude(status=Connector.Status.DISABLED).first()
    if connector is None or not connector.trail_bucket:
        return None
    now = now or timezone.now()
    checkpoint, _ = IngestCheckpoint.objects.get_or_create(connector=connector, region=region)
    if not claim(checkpoint, now):
        return None
    try:
        return _read_files(connector, checkpoint, now)
    except ConnectorDeleted:
        return None
    except ConnectorBroken as error:
        connector_mark_error(connector_id=connector.pk, reason=str(error))
        return None
    finally:
        IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(running_since=None)


def _read_files(connector: Connector, checkpoint: IngestCheckpoint, now: datetime) -> StoreResult:
    s3 = aws.client(
        "s3", connector_credentials(connector), region=checkpoint.region, endpoint_url=connector.endpoint_url
    )
    prefix = region_prefix(connector, checkpoint.region)
    first_day = (now - timedelta(days=connector.history_days)).strftime("%Y/%m/%d/")
    start_after = checkpoint.last_key or prefix + first_day
    classifier = IpClassifier.load()
    total = StoreResult()
    pending: list[tuple[str, BatchResult]] = []
    pending_records = 0

    def flush() -> None:
        nonlocal pending, pending_records
        if pending:
            # Prepared here, so that the writer's transaction only sends what is ready.
            prepared = writer.prepare(connector=connector, batches=pending, classifier=classifier)
            marks = [(key, batch.total) for key, batch in pending]
            pending, pending_records = [], 0
            writer.submit(
                lambda in_turn: _store_and_advance(connector, checkpoint, prepared, marks, total, in_turn)
            )

    def fetch(key: str) -> bytes:
        return s3.get_object(Bucket=connector.trail_bucket, Key=key)["Body"].read()

    # The writer stores one group of files while this thread fetches and normalizes the next.
    with rare_collections(), StoreWriter() as writer:
        try:
            # S3 answers one GET at a time slowly: a few threads fetch ahead, in listing order.
            with ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="trail-fetch") as pool:
                for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=connector.trail_bucket, Prefix=prefix, StartAfter=start_after
                ):
                    keys = [
                        item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(".json.gz")
                    ]
                    already = set(
                        TrailFileRead.objects.filter(connector=connector, key__in=keys).values_list(
                            "key", flat=True
                        )
                    )
                    keys = [key for key in keys if key not in already]
                    for key, body in zip(keys, pool.map(fetch, keys), strict=True):
                        batch = normalize_batch(iter_records(body))
                        pending.append((key, batch))
                        pending_records += batch.total
                        if pending_records >= RECORDS_PER_TRANSACTION:
                            flush()
                flush()
        except (ClientError, BotoCoreError) as error:
            flush()  # the files fetched before the failure stay read
            failure = aws.classify(error)
            IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(
                last_error=str(failure)[:2000], last_run_at=now
            )
            if failure.transient:
                raise TransientAwsError(str(failure)) from error
            if failure.kind in {ErrorKind.ACCESS_DENIED, ErrorKind.NOT_FOUND}:
                raise ConnectorBroken(
                    f"Cannot read trail files in s3://{connector.trail_bucket}/{prefix}: {failure}. "
                    "The connector needs s3:ListBucket and s3:GetObject on the trail bucket."
                ) from error
            raise ConnectorBroken(f"Reading trail files failed. {explain(failure)}") from error
    IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(
        position=now, backfill_done=True, last_run_at=timezone.now(), last_error=""
    )
    return total


def _store_and_advance(
    connector: Connector,
    checkpoint: IngestCheckpoint,
    prepared: PreparedBatches,
    marks: list[tuple[str, int]],
    total: StoreResult,
    in_turn: Callable[[], None],
) -> None:
    total.merge(_store_files(connector, prepared, marks, in_turn))
    IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(
        last_key=marks[-1][0], running_since=timezone.now()
    )


def _store_files(
    connector: Connector, prepared: PreparedBatches, marks: list[tuple[str, int]], in_turn: Callable[[], None]
) -> StoreResult:
    """The records of several files and their marks as read (key, records), in one transaction."""
    with transaction.atomic():
        result = store_prepared(connector=connector, prepared=prepared, in_turn=in_turn)
        TrailFileRead.objects.bulk_create(
            [TrailFileRead(connector=connector, key=key, records=records) for key, records in marks]
        )
    return result
