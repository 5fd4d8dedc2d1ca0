"""Writes normalized, enriched activities: idempotent, counted, and handed to detection after commit."""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter

from celery import current_app
from django.db import connection, connections, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from orjson import dumps
from psycopg.errors import UniqueViolation

from connectors.ingestion.normalize import FIELD_NAMES, BatchResult, NormalizedActivity, normalize_batch
from connectors.models import Activity, Connector, PendingDetection, RejectedRecord
from defender.ipintel.classify import IpClassifier, enrich, enrichment

DETECT_TASK = "policies.detect_activities"
DETECTION_CHUNK = 5000  # a detection task costs ~40 ms of set-up (policies, states): amortized
INSERT_BATCH = 2000


class ConnectorDeleted(Exception):
    """The connector was deleted while its activity was being stored: the batch is rolled back (the
    activity table has no foreign key constraint to refuse it; see ``Activity.connector``)."""


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


def detection_pending(activity_ids: list[int]) -> list[PendingDetection]:
    """Record, in the storing transaction, that ``activity_ids`` await detection (one row per task)."""
    return PendingDetection.objects.bulk_create(
        [
            PendingDetection(activity_ids=activity_ids[start : start + DETECTION_CHUNK])
            for start in range(0, len(activity_ids), DETECTION_CHUNK)
        ]
    )


def hand_to_detection(pending: list[PendingDetection]) -> None:
    """Queue detection by task name: connectors never import the policies app. Detection deletes the
    row when it is done; until then ``detection_resend`` may send it again."""
    for row in pending:
        current_app.send_task(DETECT_TASK, args=[row.activity_ids, row.pk])


def detection_resend(*, older_than: timedelta) -> int:
    """Send again the detections still pending after ``older_than``: their worker died after the
    activities were committed, or during detection (which is safe to run twice). How many were sent."""
    now = timezone.now()
    with transaction.atomic():
        stale = list(
            PendingDetection.objects.select_for_update(skip_locked=True)
            .filter(sent_at__lt=now - older_than)
            .order_by("pk")
        )
        if stale:
            PendingDetection.objects.filter(pk__in=[row.pk for row in stale]).update(sent_at=now)
            transaction.on_commit(lambda: hand_to_detection(stale))
    return len(stale)


# Trail records are trees of dicts and lists without cycles, parsed by the hundred thousand. At the
# default threshold (700 allocations) the cycle collector runs after every few records, and its older
# generations, filled by the batches waiting to be stored, are walked again and again: measured on the
# scale scenario, a third of the CPU of parsing and normalizing, for no cycle found.
COLLECTION_THRESHOLD = 70_000


@contextmanager
def rare_collections() -> Iterator[None]:
    """Collect cycles a hundred times less often while ingesting: what few cycles arise are still
    freed, a little later."""
    previous = gc.get_threshold()
    gc.set_threshold(COLLECTION_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


class StoreWriter:
    """Runs store calls one after another on a thread of its own while the caller reads and normalizes
    the next batch, so that PostgreSQL's half of ingestion (COPY, index upkeep, commit) overlaps
    Python's instead of following it: the thread waits on the database, not on the interpreter.

    Each call is a transaction of its own, so exactly-once holds as it does inline: a batch is
    committed with its marks (files read) or not at all. At most one call waits while one runs, which
    bounds memory to about three batches. The first failure stops the thread and is raised in the
    caller by the next ``submit`` or on leaving the ``with`` block; calls queued after it are dropped.

    The thread has its own database connection, which cannot see the caller's uncommitted rows: inside
    a transaction (a test's, a command's) and on SQLite, which serializes writers anyway, calls run
    inline.
    """

    def __init__(self) -> None:
        self.threaded = connection.vendor == "postgresql" and not connection.in_atomic_block
        self._calls: queue.Queue = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StoreWriter:
        if self.threaded:
            self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
            self._thread.start()
        return self

    def submit(self, call: Callable[[], object]) -> None:
        if not self.threaded:
            call()
            return
        self._raise_failure()
        self._calls.put(call)

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is None:
            return
        self._calls.put(None)
        self._thread.join()
        if exc_info[0] is None:
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        try:
            while (call := self._calls.get()) is not None:
                if self._failure is None:
                    try:
                        call()
                    except BaseException as error:  # handed to the caller's thread
                        self._failure = error
        finally:
            connections.close_all()


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
    by_event_id: dict[str, NormalizedActivity] = {}
    normalized_count = 0
    for _, batch in batches:
        normalized_count += len(batch.activities)
        for activity in batch.activities:
            by_event_id.setdefault(activity.event_id, activity)
    activities = list(by_event_id.values())
    rejected = [(source, text, reason) for source, batch in batches for text, reason in batch.rejected]
    result = StoreResult(read=normalized_count + len(rejected), rejected=len(rejected))
    with transaction.atomic():
        inserted = (
            _insert_copy(connector, activities, classifier)
            if connection.vendor == "postgresql"
            else _insert_orm(connector, activities, classifier)
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
            updated = Connector.objects.filter(pk=connector.pk).update(
                events_ingested=F("events_ingested") + result.inserted,
                last_activity_at=Greatest(Coalesce("last_activity_at", result.newest), result.newest),
            )
            if not updated:
                raise ConnectorDeleted(f"Connector {connector.pk} was deleted while its activity was stored.")
            # Read after the update, under its row lock: see connectors.ingestion.history.
            held = Connector.objects.filter(pk=connector.pk).values_list("detection_held", flat=True)[0]
            if not held:
                pending = detection_pending(result.new_ids)
                transaction.on_commit(lambda: hand_to_detection(pending))
    return result


def _insert_orm(
    connector: Connector, activities: list[NormalizedActivity], classifier: IpClassifier
) -> list[tuple[int, datetime]]:
    rows = [enrich(activity.as_fields(), classifier) for activity in activities]
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
JSON_FIELDS = frozenset(f.attname for f in COPY_FIELDS if f.get_internal_type() == "JSONField")
NORMALIZED_JSON_FIELDS = tuple(name for name in FIELD_NAMES if name in JSON_FIELDS)
# What an activity without an address (a call made by an AWS service) gets for each enrichment field.
NO_ENRICHMENT = {
    f.attname: f.get_default()
    for f in COPY_FIELDS
    if f.attname not in FIELD_NAMES and f.attname not in {"connector_id", "ingested_at"}
}
# One C call turns an activity's merged fields into its COPY row, in the COPY column order.
COPY_ROW = itemgetter(*(f.attname for f in COPY_FIELDS))


def _insert_copy(
    connector: Connector, activities: list[NormalizedActivity], classifier: IpClassifier
) -> list[tuple[int, datetime]]:
    """PostgreSQL: COPY the events straight into the activity table, with ids drawn from its sequence
    beforehand since COPY returns nothing. Most batches hold only new events (a trail file is read
    once), so none is looked up first: the unique index on (connector, event_id) has the last word.
    When it refuses one, the COPY is undone as a whole and the rows go through ``_insert_staged``,
    which skips exactly the stored ones (a LookupEvents overlap, a file delivered twice, another
    writer of the same events)."""
    if not activities:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('connectors_activity', 'id')) FROM generate_series(1, %s)",
            [len(activities)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        # Each row is formatted as it is sent, so PostgreSQL parses and indexes the first rows while
        # Python formats the next ones, instead of waiting for the whole batch.
        pending = _copy_rows(connector, activities, classifier)
        rows = []
        try:
            with (
                transaction.atomic(),
                cursor.copy(f"COPY connectors_activity (id, {COPY_COLUMNS}) FROM STDIN") as copy,
            ):
                for pk, row in zip(ids, pending, strict=True):
                    rows.append(row)
                    copy.write_row((pk, *row))
        except UniqueViolation:
            rows.extend(pending)
            return _insert_staged(cursor, rows)
    return list(zip(ids, [activity.event_time for activity in activities], strict=True))


def _copy_rows(
    connector: Connector, activities: list[NormalizedActivity], classifier: IpClassifier
) -> Iterator[tuple]:
    """The activities as COPY rows, enriched and with their JSON serialized. Enrichment is looked up
    once per distinct address: a batch holds far fewer addresses than events."""
    fixed = {"connector_id": connector.pk, "ingested_at": timezone.now()}
    no_address = {**NO_ENRICHMENT, **fixed, "ip_tags": dumps(NO_ENRICHMENT["ip_tags"]).decode()}
    by_address: dict[str, dict] = {}
    for activity in activities:
        fields = vars(activity)
        address = fields["ip_address"]
        if not address:
            extra = no_address
        else:
            extra = by_address.get(address)
            if extra is None:
                extra = {**NO_ENRICHMENT, **enrichment(str(address), classifier), **fixed}
                extra["ip_tags"] = dumps(extra["ip_tags"]).decode()
                by_address[address] = extra
        merged = {**fields, **extra}
        for name in NORMALIZED_JSON_FIELDS:
            value = merged[name]
            if value is not None:
                merged[name] = dumps(value).decode()
        yield COPY_ROW(merged)


def _insert_staged(cursor, rows: list) -> list[tuple[int, datetime]]:
    """COPY into a session-local staging table, then one INSERT ... ON CONFLICT DO NOTHING RETURNING:
    the rows another writer stored first are skipped one by one, and exactly the new ones come back."""
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS activity_stage ON COMMIT DELETE ROWS AS "
        f"SELECT {COPY_COLUMNS} FROM connectors_activity WITH NO DATA"
    )
    with cursor.copy(f"COPY activity_stage ({COPY_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        f"INSERT INTO connectors_activity ({COPY_COLUMNS}) SELECT {COPY_COLUMNS} FROM activity_stage "
        "ON CONFLICT (connector_id, event_id) DO NOTHING RETURNING id, event_time"
    )
    inserted = cursor.fetchall()
    cursor.execute("TRUNCATE activity_stage")
    return inserted
