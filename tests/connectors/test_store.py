"""The idempotent store: what it writes equals normalize + enrich, on PostgreSQL's COPY path as on the
ORM path, and a concurrent writer of the same events never causes a duplicate or a failure."""

import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from connectors import services
from connectors.ingestion import s3_trail, store
from connectors.ingestion.normalize import normalize, normalize_batch
from connectors.ingestion.store import (
    ConnectorDeleted,
    StoreWriter,
    TurnTimeout,
    store_prepared,
    store_records,
)
from connectors.models import Activity, Connector, IngestCheckpoint, RejectedRecord, TrailFileRead
from connectors.services import ConnectorSettings
from defender.ipintel.classify import IpClassifier, RangeSpec, enrich
from tests.aws_fixtures import aws_client
from tests.cloudtrail import record, series
from tests.connectors.test_ingestion import trail_file

OFFICE = RangeSpec(name="Office", cidrs=("81.2.69.0/24",), category="corporate", tags=("HQ",))


def make_connector() -> Connector:
    return Connector.objects.create(
        name="Store", status=Connector.Status.CONNECTED, account_id="123456789012"
    )


@pytest.mark.django_db
def test_stored_rows_are_the_normalized_and_enriched_records():
    connector = make_connector()
    classifier = IpClassifier.build([OFFICE], [])
    events = [record(name, event_id=name) for name in ("iam_user_api_call", "ec2_run_instances")]
    events += [
        # Two events from one address share its enrichment; an AWS service's call has none.
        record("s3_put_bucket_acl", event_id="office-1", sourceIPAddress="81.2.69.160"),
        record("s3_put_bucket_acl", event_id="office-2", sourceIPAddress="81.2.69.160"),
        record("kms_rotate_key_service_event", event_id="service"),
        record(event_id="no-parameters", requestParameters=None),
    ]
    result = store_records(connector=connector, records=events, source="test", classifier=classifier)
    assert result.inserted == len(events)
    for event in events:
        expected = enrich(normalize(event).as_fields(), classifier)
        stored = model_to_dict(Activity.objects.get(event_id=event["eventID"]), fields=list(expected))
        assert stored == expected
    office = Activity.objects.get(event_id="office-2")
    assert (office.ip_category, office.country) == ("corporate", "GB")
    assert "HQ" in office.ip_tags
    service = Activity.objects.get(event_id="service")
    assert (service.ip_category, service.ip_tags, service.country, service.latitude) == ("", [], "", None)
    assert Activity.objects.get(event_id="no-parameters").request_parameters is None


@pytest.mark.django_db
def test_a_batch_for_a_connector_deleted_meanwhile_is_rolled_back():
    connector = make_connector()
    Connector.objects.filter(pk=connector.pk).delete()
    with pytest.raises(ConnectorDeleted):
        store_records(connector=connector, records=[record(), "not a record"], source="late")
    assert not Activity.objects.filter(connector_id=connector.pk).exists()
    assert not RejectedRecord.objects.filter(connector_id=connector.pk).exists()


@contextmanager
def stored_by_another_writer(connector: Connector, records: list, *, commits_after: float = 0.5):
    """Store ``records`` in a transaction of another thread, which holds it open until ``commits_after``
    seconds into the block, so that the block's own statements meet its uncommitted rows and row locks
    and wait for its commit. Yields a list that holds the other writer's StoreResult afterwards."""
    stored: list = []
    failures: list[BaseException] = []
    storing, release = threading.Event(), threading.Event()

    def writer() -> None:
        try:
            with transaction.atomic():
                stored.append(store_records(connector=connector, records=records, source="other"))
                storing.set()
                release.wait(10)
        except BaseException as error:  # surfaced by the assertion below
            failures.append(error)
            storing.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    assert storing.wait(10)
    threading.Timer(commits_after, release.set).start()
    yield stored
    thread.join(10)
    assert failures == []


@pytest.mark.django_db(transaction=True)
def test_deleting_a_connector_waits_for_the_batch_being_stored_and_deletes_it_too(admin):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writers: no deletion can overlap a batch")
    connector = make_connector()
    connector_id = connector.pk  # delete() clears the instance's pk
    with stored_by_another_writer(connector, [record(event_id=f"e{n}") for n in range(3)]) as stored:
        services.connector_delete(connector=connector, by=admin)
    assert stored[0].inserted == 3
    assert not Connector.objects.filter(pk=connector_id).exists()
    assert not Activity.objects.filter(connector_id=connector_id).exists()


@pytest.mark.django_db(transaction=True)
def test_events_another_writer_stores_meanwhile_are_skipped_not_duplicated():
    """The other writer's rows are not committed yet when this batch's COPY meets them in the unique
    index: it waits for that writer, then falls back to skipping them one by one."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writers: no batch can overlap another")
    connector = make_connector()
    events = [record(event_id=f"e{number}") for number in range(5)]
    with stored_by_another_writer(connector, events[:2]):
        result = store_records(connector=connector, records=events, source="this")
    assert (result.inserted, result.duplicates) == (3, 2)
    assert sorted(Activity.objects.filter(pk__in=result.new_ids).values_list("event_id", flat=True)) == [
        "e2",
        "e3",
        "e4",
    ]
    assert Activity.objects.filter(connector=connector).count() == 5
    connector.refresh_from_db()
    assert connector.events_ingested == 5


@pytest.mark.django_db(transaction=True)
def test_the_writer_runs_calls_in_order_on_its_thread_and_stops_at_the_first_failure():
    ran: list[tuple[str, str]] = []

    def call(name: str):
        def run(in_turn) -> None:
            in_turn()
            ran.append((name, threading.current_thread().name))

        return run

    def fail(in_turn) -> None:
        in_turn()
        raise ValueError("the database went away")

    with pytest.raises(ValueError, match="went away"), StoreWriter() as writer:
        writer.submit(call("first"))
        writer.submit(call("second"))
        writer.submit(fail)
        writer.submit(call("after the failure"))
    assert [name for name, _ in ran] == ["first", "second"]
    if connection.vendor == "postgresql":
        assert all(thread.startswith("ingest-writer-") for _, thread in ran)


def prepared_events(writer: StoreWriter, connector: Connector, *event_ids: str):
    batch = normalize_batch([record(event_id=event_id) for event_id in event_ids])
    return writer.prepare(connector=connector, batches=[("test", batch)], classifier=IpClassifier.load())


def stored_after(written: threading.Event, connector: Connector, prepared, committed: list[str], name: str):
    """A store call that tells ``written`` once its rows are in the table, before its turn."""

    def call(in_turn) -> None:
        def tell_then_wait() -> None:
            written.set()
            in_turn()

        store_prepared(connector=connector, prepared=prepared, in_turn=tell_then_wait)
        committed.append(name)

    return call


@pytest.mark.django_db(transaction=True)
def test_two_calls_write_at_once_but_commit_in_the_order_they_were_submitted():
    connector = make_connector()
    committed: list[str] = []
    second_written = threading.Event()
    with StoreWriter() as writer:
        if not writer.threaded:
            pytest.skip("calls run inline on this database")
        first = prepared_events(writer, connector, "a-1", "a-2")
        second = prepared_events(writer, connector, "b-1")

        def slow_first(in_turn) -> None:
            # The second call's rows are written (uncommitted) while the first is still running.
            assert second_written.wait(timeout=30)
            assert Activity.objects.count() == 0
            stored_after(threading.Event(), connector, first, committed, "first")(in_turn)

        writer.submit(slow_first)
        writer.submit(stored_after(second_written, connector, second, committed, "second"))
    assert committed == ["first", "second"]
    assert Activity.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_call_whose_predecessor_failed_is_rolled_back_though_its_rows_were_written():
    connector = make_connector()
    committed: list[str] = []
    second_written = threading.Event()

    def failing_first(in_turn) -> None:
        assert second_written.wait(timeout=30)
        raise ValueError("the first batch failed")

    with pytest.raises(ValueError, match="first batch failed"), StoreWriter() as writer:
        if not writer.threaded:
            pytest.skip("calls run inline on this database")
        writer.submit(failing_first)
        second = prepared_events(writer, connector, "b-1", "b-2")
        writer.submit(stored_after(second_written, connector, second, committed, "second"))
    assert committed == []
    assert Activity.objects.count() == 0
    connector.refresh_from_db()
    assert connector.events_ingested == 0


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_waits_too_long_for_the_one_before_is_rolled_back(monkeypatch):
    # The wait PostgreSQL cannot see is bounded: giving up releases the batch's rows.
    monkeypatch.setattr(store, "TURN_TIMEOUT_SECONDS", 0.5)
    connector = make_connector()
    committed: list[str] = []
    second_gave_up = threading.Event()
    with pytest.raises(TurnTimeout, match=r"not stored within 0\.5 s"), StoreWriter() as writer:
        if not writer.threaded:
            pytest.skip("calls run inline on this database")
        first = prepared_events(writer, connector, "a-1")
        second = prepared_events(writer, connector, "b-1")

        def slow_first(in_turn) -> None:
            assert second_gave_up.wait(timeout=30)
            stored_after(threading.Event(), connector, first, committed, "first")(in_turn)

        def second_call(in_turn) -> None:
            try:
                stored_after(threading.Event(), connector, second, committed, "second")(in_turn)
            finally:
                second_gave_up.set()

        writer.submit(slow_first)
        writer.submit(second_call)
    assert committed == ["first"]
    assert list(Activity.objects.values_list("event_id", flat=True)) == ["a-1"]


@pytest.mark.django_db(transaction=True)
def test_a_batch_leaves_out_the_events_of_the_batches_written_beside_it():
    # Written at once, the earlier batch could wait on the later's uncommitted row for ever. Older
    # batches have committed by then: the unique index finds their events.
    connector = make_connector()
    batches = [
        (("e1", "e2"), {"e1", "e2"}),
        (("e2", "e3"), {"e3"}),
        (("e2", "e3", "e4"), {"e4"}),
        (("e1", "e5"), {"e1", "e5"}),
    ]
    results = []
    with StoreWriter() as writer:
        for event_ids, written in batches:
            prepared = prepared_events(writer, connector, *event_ids)
            assert prepared.event_ids == written
            writer.submit(
                lambda in_turn, prepared=prepared: results.append(
                    store_prepared(connector=connector, prepared=prepared, in_turn=in_turn)
                )
            )
    assert [(result.inserted, result.duplicates) for result in results] == [(2, 0), (1, 1), (1, 2), (1, 1)]
    assert sorted(Activity.objects.values_list("event_id", flat=True)) == ["e1", "e2", "e3", "e4", "e5"]


@pytest.mark.django_db
def test_inside_a_transaction_the_writer_runs_calls_inline():
    # Its own connection could not see the caller's uncommitted rows.
    assert not StoreWriter().threaded


@pytest.mark.django_db(transaction=True)
def test_trail_files_stored_by_the_writer_thread_are_each_read_once(
    aws, connector_user, admin, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks():
        connector = services.connector_save(
            config=ConnectorSettings(
                name="Trail",
                access_key_id=connector_user.credentials.access_key_id,
                secret_access_key=connector_user.credentials.secret_access_key,
                regions=("us-east-1",),
            ),
            by=admin,
        )
    s3 = aws_client("s3", aws.endpoint_url)
    s3.create_bucket(Bucket="org-trail-bucket")
    prefix = f"AWSLogs/123456789012/CloudTrail/us-east-1/{timezone.now():%Y/%m/%d}/"
    keys = [f"{prefix}{number:02}_CloudTrail_us-east-1.json.gz" for number in range(7)]
    for number, key in enumerate(keys):
        events = series(12, end=timezone.now() - timedelta(hours=number))
        for event in events:
            event["eventID"] = f"{number}-{event['eventID']}"
        s3.put_object(Bucket="org-trail-bucket", Key=key, Body=trail_file(events))
    Connector.objects.filter(pk=connector.pk).update(ingest_mode="s3_trail", trail_bucket="org-trail-bucket")
    # Two files to a transaction: four transactions, the writer storing one while the next is read.
    monkeypatch.setattr(s3_trail, "RECORDS_PER_TRANSACTION", 24)
    assert StoreWriter().threaded == (connection.vendor == "postgresql")

    first = s3_trail.ingest_trail_region(connector_id=connector.pk, region="us-east-1")
    again = s3_trail.ingest_trail_region(connector_id=connector.pk, region="us-east-1")

    assert (first.read, first.inserted, first.duplicates) == (84, 84, 0)
    assert len(set(first.new_ids)) == 84
    assert again.read == 0
    assert Activity.objects.filter(connector=connector).count() == 84
    assert sorted(TrailFileRead.objects.filter(connector=connector).values_list("key", flat=True)) == keys
    checkpoint = IngestCheckpoint.objects.get(connector=connector, region="us-east-1")
    assert (checkpoint.last_key, checkpoint.running_since, checkpoint.backfill_done) == (keys[-1], None, True)
