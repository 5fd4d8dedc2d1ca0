"""Ingestion from the gzipped CloudTrail log files a trail delivers to S3 (large accounts,
organization trails). Keys sort by time within a region's prefix, so each region is listed from the
last key read; every file is stored and marked read in one transaction, so none is read twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.db import transaction
from django.utils import timezone

from connectors import aws
from connectors.aws import ErrorKind
from connectors.ingestion.errors import ConnectorBroken, TransientAwsError
from connectors.ingestion.lookup_events import claim
from connectors.ingestion.normalize import iter_records
from connectors.ingestion.store import StoreResult, store_records
from connectors.models import Connector, IngestCheckpoint, TrailFileRead
from connectors.services import connector_credentials, connector_mark_error
from connectors.validation import explain
from defender.ipintel.classify import IpClassifier

RECORDS_PER_TRANSACTION = 5000


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
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=connector.trail_bucket, Prefix=prefix, StartAfter=start_after
        ):
            for item in page.get("Contents", []):
                key = item["Key"]
                if (
                    not key.endswith(".json.gz")
                    or TrailFileRead.objects.filter(connector=connector, key=key).exists()
                ):
                    continue
                body = s3.get_object(Bucket=connector.trail_bucket, Key=key)["Body"]
                total.merge(_store_file(connector, key, body, classifier))
                IngestCheckpoint.objects.filter(pk=checkpoint.pk).update(
                    last_key=key, running_since=timezone.now()
                )
    except (ClientError, BotoCoreError) as error:
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


def _store_file(connector: Connector, key: str, body, classifier: IpClassifier) -> StoreResult:
    result = StoreResult()
    with transaction.atomic():
        chunk: list = []
        for record in iter_records(body):
            chunk.append(record)
            if len(chunk) >= RECORDS_PER_TRANSACTION:
                result.merge(
                    store_records(connector=connector, records=chunk, source=key, classifier=classifier)
                )
                chunk = []
        if chunk:
            result.merge(store_records(connector=connector, records=chunk, source=key, classifier=classifier))
        TrailFileRead.objects.create(connector=connector, key=key, records=result.read)
    return result
