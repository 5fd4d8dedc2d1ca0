"""Writes normalized, enriched activities: idempotent, counted, and handed to detection after commit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from celery import current_app
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from connectors.ingestion.normalize import BatchResult, normalize_batch
from connectors.models import Activity, Connector, RejectedRecord
from defender.ipintel.classify import IpClassifier, enrich

DETECT_TASK = "policies.detect_activities"
DETECTION_CHUNK = 5000  # a detection task costs ~40 ms of set-up (policies, states): amortized
INSERT_BATCH = 2000


@dataclass
class StoreResult:
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    newest: datetime | None = None
    oldest: datetime | None = None
    new_ids: list[int] = field(default_factory=list, repr=False)

    def merge(self, other: StoreResult) -> None:
        self.read += other.read
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.newest = max(filter(None, [self.newest, other.newest]), default=None)
        self.oldest = min(filter(None, [self.oldest, other.oldest]), default=None)
        self.new_ids.extend(other.new_ids)


def hand_to_detection(activity_ids: list[int]) -> None:
    """Queue detection by task name: connectors never import the policies app."""
    for start in range(0, len(activity_ids), DETECTION_CHUNK):
        current_app.send_task(DETECT_TASK, args=[activity_ids[start : start + DETECTION_CHUNK]])


def store_records(
    *, connector: Connector, records: Iterable, source: str, classifier: IpClassifier | None = None
) -> StoreResult:
    """Normalize, enrich and insert ``records`` in one transaction; re-running it changes nothing."""
    return store_batches(
        connector=connector, batches=[(source, normalize_batch(records))], classifier=classifier
    )


def store_batches(
    *, connector: Connector, batches: list[tuple[str, BatchResult]], classifier: IpClassifier | None = None
) -> StoreResult:
    """Enrich and insert normalized batches, each with the source its rejected records are kept
    under, in one transaction: many small trail files cost one COPY, not one each."""
    classifier = classifier or IpClassifier.load()
    by_event_id: dict[str, dict] = {}
    normalized_count = 0
    for _, batch in batches:
        normalized_count += len(batch.activities)
        for normalized in batch.activities:
            fields = enrich(normalized.as_fields(), classifier)
            by_event_id.setdefault(fields["event_id"], fields)
    rows = list(by_event_id.values())
    rejected = [(source, text, reason) for source, batch in batches for text, reason in batch.rejected]
    result = StoreResult(read=normalized_count + len(rejected), rejected=len(rejected))
    with transaction.atomic():
        inserted = (
            _insert_copy(connector, rows)
            if connection.vendor == "postgresql"
            else _insert_orm(connector, rows)
        )
        result.new_ids = [pk for pk, _ in inserted]
        result.inserted = len(inserted)
        result.duplicates = normalized_count - result.inserted
        if rejected:
            RejectedRecord.objects.bulk_create(
                [
                    RejectedRecord(connector=connector, source=source[:512], record=text, error=reason)
                    for source, text, reason in rejected
                ]
            )
        times = [event_time for _, event_time in inserted]
        if times:
            result.newest, result.oldest = max(times), min(times)
            Connector.objects.filter(pk=connector.pk).update(
                events_ingested=F("events_ingested") + result.inserted,
                last_activity_at=Greatest(Coalesce("last_activity_at", result.newest), result.newest),
            )
        ids = result.new_ids
        transaction.on_commit(lambda: hand_to_detection(ids))
    return result


def _insert_orm(connector: Connector, rows: list[dict]) -> list[tuple[int, datetime]]:
    existing = set(
        Activity.objects.filter(connector=connector, event_id__in=[r["event_id"] for r in rows]).values_list(
            "event_id", flat=True
        )
    )
    fresh = [Activity(connector=connector, **row) for row in rows if row["event_id"] not in existing]
    Activity.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=INSERT_BATCH)
    if not fresh:
        return []
    return list(
        Activity.objects.filter(connector=connector, event_id__in=[a.event_id for a in fresh]).values_list(
            "id", "event_time"
        )
    )


COPY_FIELDS = [f for f in Activity._meta.concrete_fields if not f.primary_key]
COPY_COLUMNS = ", ".join(f'"{f.column}"' for f in COPY_FIELDS)
# Per column: (attname, default, is JSON), resolved once rather than per value.
COPY_PLAN = [(f.attname, f.get_default(), f.get_internal_type() == "JSONField") for f in COPY_FIELDS]


def _insert_copy(connector: Connector, rows: list[dict]) -> list[tuple[int, datetime]]:
    """PostgreSQL: COPY into a session-local staging table, then one INSERT ... ON CONFLICT DO NOTHING
    RETURNING: several times faster than a multi-row INSERT, and it returns exactly the new rows."""
    fixed = {"connector_id": connector.pk, "ingested_at": timezone.now()}
    dumps = orjson.dumps
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS activity_stage ON COMMIT DELETE ROWS AS "
            f"SELECT {COPY_COLUMNS} FROM connectors_activity WITH NO DATA"
        )
        with cursor.copy(f"COPY activity_stage ({COPY_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                values = []
                for name, default, is_json in COPY_PLAN:
                    value = fixed[name] if name in fixed else row.get(name, default)
                    if is_json and value is not None:
                        value = dumps(value).decode()
                    values.append(value)
                copy.write_row(values)
        cursor.execute(
            f"INSERT INTO connectors_activity ({COPY_COLUMNS}) SELECT {COPY_COLUMNS} FROM activity_stage "
            "ON CONFLICT (connector_id, event_id) DO NOTHING RETURNING id, event_time"
        )
        inserted = cursor.fetchall()
        cursor.execute("TRUNCATE activity_stage")
    return inserted
