"""Writes normalized, enriched activities: idempotent, counted, and handed to detection after commit."""

from __future__ import annotations

import gc
import io
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from operator import itemgetter

from celery import current_app
from django.db import connection, connections, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from orjson import dumps
from psycopg.copy import Copy, FileWriter
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


WRITER_THREADS = 2
# How long a written batch waits for the one before it. Far longer than storing a batch takes; it
# bounds the one wait PostgreSQL cannot see (see StoreWriter).
TURN_TIMEOUT_SECONDS = 300


class EarlierStoreFailed(Exception):
    """A store call submitted before this one failed: this one is rolled back, as if never run."""


class TurnTimeout(Exception):
    """A written batch waited too long for the one before it, and is rolled back."""


class StoreWriter:
    """Runs store calls on threads of their own while the caller reads, normalizes and prepares the
    next batch, so that PostgreSQL's half of ingestion (COPY, index upkeep, commit) overlaps Python's
    instead of following it. PostgreSQL's half is the larger, so two calls run at once, on two
    connections: their rows are written side by side, on two of the database's cores.

    The calls are handed prepared batches (``prepare``): formatting rows here instead would hold the
    interpreter's lock against the caller, and PostgreSQL would wait for rows between switches.

    Exactly-once holds as it does inline. Each call is a transaction of its own (a batch is committed
    with its marks, files read, or not at all), and the calls finish in the order they were submitted:
    each is given ``in_turn``, which it calls once its rows are written and before it takes a row lock
    another call needs (connector, checkpoint) or commits. ``in_turn`` returns once every earlier call
    has finished, and raises ``EarlierStoreFailed`` if one failed, which rolls this one back: what is
    committed is always a prefix of what was submitted. Two batches written at once never hold the
    same event (``prepare`` leaves out the events of the batches that may still be written), or the
    earlier could wait on the later's uncommitted row while the later waits for its turn: a deadlock
    PostgreSQL cannot see. Another writer of the same connector's events (``import_cloudtrail``) could
    still close such a circle; the wait for a turn gives up after TURN_TIMEOUT_SECONDS, rolling the
    waiting batch back, which breaks it.

    At most one call waits while two run, which bounds memory to about four batches. The first failure
    is raised in the caller by the next ``submit`` or on leaving the ``with`` block; calls queued after
    it are dropped.

    A thread has its own database connection, which cannot see the caller's uncommitted rows: inside
    a transaction (a test's, a command's) and on SQLite, which serializes writers anyway, calls run
    inline.
    """

    def __init__(self, threads: int = WRITER_THREADS) -> None:
        self.threaded = connection.vendor == "postgresql" and not connection.in_atomic_block
        self._thread_count = threads
        self._calls: queue.Queue = queue.Queue(maxsize=1)
        self._turn = threading.Condition()
        self._submitted = 0
        self._finished = 0  # calls numbered below this one have finished
        self._failure: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._recent_event_ids: deque[frozenset[str]] = deque(maxlen=threads)

    def __enter__(self) -> StoreWriter:
        if self.threaded:
            self._threads = [
                threading.Thread(target=self._run, name=f"ingest-writer-{number}", daemon=True)
                for number in range(1, self._thread_count + 1)
            ]
            for thread in self._threads:
                thread.start()
        return self

    def prepare(
        self, *, connector: Connector, batches: list[tuple[str, BatchResult]], classifier: IpClassifier
    ) -> PreparedBatches:
        """``prepare_batches``, leaving out the events of the batches that may still be written beside
        the new one (they would be duplicates of those anyway)."""
        prepared = prepare_batches(
            connector=connector,
            batches=batches,
            classifier=classifier,
            skip=frozenset().union(*self._recent_event_ids),
        )
        self._recent_event_ids.append(prepared.event_ids)
        return prepared

    def submit(self, call: Callable[[Callable[[], None]], object]) -> None:
        """Run ``call(in_turn)``, on a thread when threaded."""
        if not self.threaded:
            call(_always_in_turn)
            return
        self._raise_failure()
        self._calls.put((self._submitted, call))
        self._submitted += 1

    def __exit__(self, *exc_info: object) -> None:
        if not self._threads:
            return
        for _ in self._threads:
            self._calls.put(None)
        for thread in self._threads:
            thread.join()
        if exc_info[0] is None:
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        try:
            while (item := self._calls.get()) is not None:
                number, call = item
                error: BaseException | None = None
                try:
                    if self._failure is None:
                        call(partial(self._in_turn, number))
                except EarlierStoreFailed:
                    pass
                except BaseException as failure:  # handed to the caller's thread
                    error = failure
                # Finished in turn, so that the failure kept is the earliest submitted one.
                with self._turn:
                    self._turn.wait_for(lambda number=number: self._finished == number)
                    if error is not None and self._failure is None:
                        self._failure = error
                    self._finished = number + 1
                    self._turn.notify_all()
        finally:
            connections.close_all()

    def _in_turn(self, number: int) -> None:
        """What call ``number`` is given as ``in_turn``."""
        with self._turn:
            in_turn = self._turn.wait_for(lambda: self._finished == number, timeout=TURN_TIMEOUT_SECONDS)
        if not in_turn:
            raise TurnTimeout(
                f"The batch before this one was not stored within {TURN_TIMEOUT_SECONDS} s; this one is "
                "rolled back and its files will be read again."
            )
        if self._failure is not None:
            raise EarlierStoreFailed(f"A store call before call {number} failed.")


def _always_in_turn() -> None:
    """Inline, every call runs in its turn."""


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
    prepared = prepare_batches(connector=connector, batches=batches, classifier=classifier)
    return store_prepared(connector=connector, prepared=prepared)


@dataclass
class PreparedBatches:
    """Normalized batches made ready to store: duplicates within them dropped, enriched and, on
    PostgreSQL, formatted as COPY data with their ids drawn. Preparing is most of the Python work of
    storing and needs no transaction, so the trail reader does it on its own thread and the
    StoreWriter's transaction only sends bytes (see StoreWriter)."""

    read: int
    normalized: int
    rejected: list[tuple[str, str, str]]  # (source, record as text, reason)
    event_ids: frozenset[str] = field(default=frozenset(), repr=False)
    ids: list[int] = field(default_factory=list, repr=False)
    event_times: list[datetime] = field(default_factory=list, repr=False)
    copy_data: bytes = field(default=b"", repr=False)  # the rows in COPY text format, id first
    rows: list[dict] = field(default_factory=list, repr=False)  # other databases: fields per activity


def prepare_batches(
    *,
    connector: Connector,
    batches: list[tuple[str, BatchResult]],
    classifier: IpClassifier | None = None,
    skip: frozenset[str] = frozenset(),
) -> PreparedBatches:
    """Prepare ``batches`` for ``store_prepared``; events whose id is in ``skip`` are left out and
    counted as duplicates."""
    classifier = classifier or IpClassifier.load()
    by_event_id: dict[str, NormalizedActivity] = {}
    normalized = 0
    for _, batch in batches:
        normalized += len(batch.activities)
        for activity in batch.activities:
            if activity.event_id not in skip:
                by_event_id.setdefault(activity.event_id, activity)
    activities = list(by_event_id.values())
    rejected = [(source, text, reason) for source, batch in batches for text, reason in batch.rejected]
    prepared = PreparedBatches(
        read=normalized + len(rejected),
        normalized=normalized,
        rejected=rejected,
        event_ids=frozenset(by_event_id),
    )
    if connection.vendor == "postgresql":
        if activities:
            prepared.ids = _draw_ids(len(activities))
            prepared.event_times = [activity.event_time for activity in activities]
            prepared.copy_data = _copy_data(connector, activities, classifier, prepared.ids)
    else:
        prepared.rows = [enrich(activity.as_fields(), classifier) for activity in activities]
    return prepared


def store_prepared(
    *, connector: Connector, prepared: PreparedBatches, in_turn: Callable[[], None] = _always_in_turn
) -> StoreResult:
    """Insert prepared batches in one transaction, keep their rejected records, count them on the
    connector and hand the new activities to detection after commit. ``in_turn`` is called between
    the insert and the rest (see StoreWriter)."""
    result = StoreResult(read=prepared.read, rejected=len(prepared.rejected))
    with transaction.atomic():
        inserted = (
            _insert_copy(prepared)
            if connection.vendor == "postgresql"
            else _insert_orm(connector, prepared.rows)
        )
        in_turn()
        result.new_ids = [pk for pk, _ in inserted]
        result.inserted = len(inserted)
        result.duplicates = prepared.normalized - result.inserted
        if prepared.rejected:
            RejectedRecord.objects.bulk_create(
                [
                    RejectedRecord(connector=connector, source=source[:512], record=text, error=reason)
                    for source, text, reason in prepared.rejected
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


def _draw_ids(count: int) -> list[int]:
    """Activity ids from the table's sequence, drawn before the COPY since COPY returns nothing. A
    sequence is outside transactions: ids of a batch that is not stored are skipped, never reused."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('connectors_activity', 'id')) FROM generate_series(1, %s)",
            [count],
        )
        return [pk for (pk,) in cursor.fetchall()]


def _copy_data(
    connector: Connector, activities: list[NormalizedActivity], classifier: IpClassifier, ids: list[int]
) -> bytes:
    """The activities as COPY text, formatted by psycopg (the same adapters as a COPY sent directly)
    into memory rather than onto the connection."""
    out = io.BytesIO()
    with (
        closing(connection.connection.cursor()) as cursor,
        Copy(cursor, binary=False, writer=FileWriter(out)) as copy,
    ):
        for pk, row in zip(ids, _copy_rows(connector, activities, classifier), strict=True):
            copy.write_row((pk, *row))
    return out.getvalue()


def _insert_copy(prepared: PreparedBatches) -> list[tuple[int, datetime]]:
    """PostgreSQL: COPY the prepared rows straight into the activity table. Most batches hold only
    new events (a trail file is read once), so none is looked up first: the unique index on
    (connector, event_id) has the last word. When it refuses one, the COPY is undone as a whole and
    the rows go through ``_insert_staged``, which skips exactly the stored ones (a LookupEvents
    overlap, a file delivered twice, another writer of the same events)."""
    if not prepared.ids:
        return []
    with connection.cursor() as cursor:
        try:
            with (
                transaction.atomic(),
                cursor.copy(f"COPY connectors_activity (id, {COPY_COLUMNS}) FROM STDIN") as copy,
            ):
                copy.write(prepared.copy_data)
        except UniqueViolation:
            return _insert_staged(cursor, prepared.copy_data)
    return list(zip(prepared.ids, prepared.event_times, strict=True))


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


def _insert_staged(cursor, copy_data: bytes) -> list[tuple[int, datetime]]:
    """COPY into a session-local staging table, then one INSERT ... ON CONFLICT DO NOTHING RETURNING:
    the rows another writer stored first are skipped one by one, and exactly the new ones come back."""
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS activity_stage ON COMMIT DELETE ROWS AS "
        f"SELECT id, {COPY_COLUMNS} FROM connectors_activity WITH NO DATA"
    )
    with cursor.copy(f"COPY activity_stage (id, {COPY_COLUMNS}) FROM STDIN") as copy:
        copy.write(copy_data)
    cursor.execute(
        f"INSERT INTO connectors_activity (id, {COPY_COLUMNS}) SELECT id, {COPY_COLUMNS} FROM activity_stage "
        "ON CONFLICT (connector_id, event_id) DO NOTHING RETURNING id, event_time"
    )
    inserted = cursor.fetchall()
    cursor.execute("TRUNCATE activity_stage")
    return inserted
