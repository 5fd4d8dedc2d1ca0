"""Writes normalized, enriched activities: idempotent, counted, and handed to detection after commit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from celery import current_app
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest

from connectors.ingestion.normalize import normalize_batch
from connectors.models import Activity, Connector, RejectedRecord
from defender.ipintel.classify import IpClassifier, enrich

DETECT_TASK = "policies.detect_activities"
DETECTION_CHUNK = 1000
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
    records = list(records)
    batch = normalize_batch(records)
    classifier = classifier or IpClassifier.load()
    by_event_id: dict[str, Activity] = {}
    for normalized in batch.activities:
        fields = enrich(normalized.as_fields(), classifier)
        by_event_id.setdefault(fields["event_id"], Activity(connector=connector, **fields))
    result = StoreResult(read=len(records), rejected=len(batch.rejected))
    with transaction.atomic():
        existing = set(
            Activity.objects.filter(connector=connector, event_id__in=list(by_event_id)).values_list(
                "event_id", flat=True
            )
        )
        fresh = [activity for event_id, activity in by_event_id.items() if event_id not in existing]
        Activity.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=INSERT_BATCH)
        if fresh:
            result.new_ids = list(
                Activity.objects.filter(
                    connector=connector, event_id__in=[a.event_id for a in fresh]
                ).values_list("id", flat=True)
            )
        result.inserted = len(result.new_ids)
        result.duplicates = len(batch.activities) - result.inserted
        if batch.rejected:
            RejectedRecord.objects.bulk_create(
                [
                    RejectedRecord(connector=connector, source=source[:512], record=text, error=reason)
                    for text, reason in batch.rejected
                ]
            )
        times = [a.event_time for a in fresh]
        if times:
            result.newest, result.oldest = max(times), min(times)
            Connector.objects.filter(pk=connector.pk).update(
                events_ingested=F("events_ingested") + result.inserted,
                last_activity_at=Greatest(Coalesce("last_activity_at", result.newest), result.newest),
            )
        ids = result.new_ids
        transaction.on_commit(lambda: hand_to_detection(ids))
    return result
