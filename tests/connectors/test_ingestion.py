"""Ingestion against the local AWS emulator: nothing lost, nothing duplicated, errors said plainly."""

import gzip
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from connectors import services
from connectors.ingestion.errors import TransientAwsError
from connectors.ingestion.lookup_events import ingest_region
from connectors.ingestion.s3_trail import ingest_trail_region
from connectors.ingestion.store import store_records
from connectors.models import Activity, Connector, IngestCheckpoint, RejectedRecord, TrailFileRead
from connectors.services import ConnectorSettings
from tests.aws_fixtures import aws_client
from tests.cloudtrail import record, series

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector(aws, connector_user, admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        return services.connector_save(
            config=ConnectorSettings(
                name="Production",
                access_key_id=connector_user.credentials.access_key_id,
                secret_access_key=connector_user.credentials.secret_access_key,
                regions=("us-east-1", "eu-west-1"),
            ),
            by=admin,
        )


def test_the_same_batch_twice_gives_the_same_rows(connector):
    events = series(30)
    first = store_records(connector=connector, records=events, source="test")
    second = store_records(connector=connector, records=events, source="test")
    assert (first.inserted, first.duplicates) == (30, 0)
    assert (second.inserted, second.duplicates) == (0, 30)
    assert Activity.objects.count() == 30
    connector.refresh_from_db()
    assert connector.events_ingested == 30


def test_lookup_events_reads_every_region_page_by_page_and_then_only_new_events(aws, connector):
    aws.store.add(series(120, region="us-east-1") + series(7, region="eu-west-1"))
    aws.enable_auth()
    result = ingest_region(connector_id=connector.pk, region="us-east-1")
    ingest_region(connector_id=connector.pk, region="eu-west-1")
    assert result.inserted == 120
    assert Activity.objects.filter(region="us-east-1").count() == 120
    assert Activity.objects.filter(region="eu-west-1").count() == 7
    checkpoint = IngestCheckpoint.objects.get(connector=connector, region="us-east-1")
    assert checkpoint.backfill_done and checkpoint.position is not None
    activity = Activity.objects.get(event_id="us-east-1-000000")
    assert activity.principal == "arn:aws:iam::123456789012:user/alice"
    assert activity.event_name == "AttachUserPolicy"

    late = record(at=checkpoint.position - timedelta(minutes=5), region="us-east-1", event_id="late-one")
    fresh = record(at=datetime.now(UTC), region="us-east-1", event_id="fresh-one")
    aws.store.add([late, fresh])
    again = ingest_region(connector_id=connector.pk, region="us-east-1")
    assert again.inserted == 2
    assert Activity.objects.filter(event_id__in=["late-one", "fresh-one"]).count() == 2
    assert Activity.objects.count() == 129


def test_history_window_is_respected(aws, connector):
    old = record(at=datetime.now(UTC) - timedelta(days=20), region="us-east-1", event_id="too-old")
    aws.store.add([old, *series(3)])
    ingest_region(connector_id=connector.pk, region="us-east-1")
    assert not Activity.objects.filter(event_id="too-old").exists()
    assert Activity.objects.count() == 3


def test_throttling_is_retried_until_every_page_is_read(aws, connector):
    aws.store.add(series(260))
    aws.throttle.limit = 1
    result = ingest_region(connector_id=connector.pk, region="us-east-1")
    assert result.inserted == 260
    assert aws.throttle.throttled > 0


def test_a_burst_of_server_errors_is_retried(aws, connector):
    aws.store.add(series(10))
    aws.faults.fail_next(2)
    assert ingest_region(connector_id=connector.pk, region="us-east-1").inserted == 10


def test_a_long_outage_leaves_the_checkpoint_for_the_task_retry(aws, connector):
    aws.store.add(series(10))
    aws.faults.fail_next(100)
    with pytest.raises(TransientAwsError):
        ingest_region(connector_id=connector.pk, region="us-east-1")
    checkpoint = IngestCheckpoint.objects.get(connector=connector, region="us-east-1")
    assert checkpoint.position is None and checkpoint.running_since is None
    assert "InternalFailure" in checkpoint.last_error or "500" in checkpoint.last_error
    aws.faults.clear()
    assert ingest_region(connector_id=connector.pk, region="us-east-1").inserted == 10


def test_missing_permission_turns_the_connector_to_error_without_retry(
    aws, make_iam_user, admin, seeded_account, django_capture_on_commit_callbacks
):
    user = make_iam_user("lookup-revoked", ["sts:GetCallerIdentity"])
    target = Connector.objects.create(
        name="Revoked",
        access_key_id=user.credentials.access_key_id,
        status=Connector.Status.CONNECTED,
        regions=["us-east-1"],
    )
    target.secret_access_key = user.credentials.secret_access_key
    target.save()
    aws.store.add(series(3))
    aws.enable_auth()
    assert ingest_region(connector_id=target.pk, region="us-east-1") is None
    target.refresh_from_db()
    assert target.status == Connector.Status.ERROR
    assert "Missing permission cloudtrail:LookupEvents" in target.status_reason
    assert not Activity.objects.exists()


def test_malformed_records_are_counted_and_kept_aside(aws, connector):
    broken = record(event_id="broken-time")
    broken["eventTime"] = "yesterday"
    result = store_records(
        connector=connector, records=[*series(2), broken, "not json at all"], source="test"
    )
    assert (result.inserted, result.rejected) == (2, 2)
    reasons = list(RejectedRecord.objects.values_list("error", flat=True))
    assert any("eventTime" in reason for reason in reasons)
    assert RejectedRecord.objects.filter(connector=connector).count() == 2


def test_geo_and_ip_category_are_filled_at_ingest(aws, connector):
    from defender.ipintel import services as ipintel

    ipintel.iprange_save(name="Office", cidrs=["81.2.69.0/24"], category="corporate", tags=["HQ"], by=None)
    store_records(
        connector=connector, records=[record(sourceIPAddress="81.2.69.160", event_id="geo")], source="t"
    )
    activity = Activity.objects.get(event_id="geo")
    assert (activity.country, activity.ip_category) == ("GB", "corporate")
    assert "HQ" in activity.ip_tags
    assert activity.latitude is not None


def trail_file(events: list[dict]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as handle:
        handle.write(json.dumps({"Records": events}).encode())
    return buffer.getvalue()


def test_s3_trail_files_are_read_once(aws, connector):
    s3 = aws_client("s3", aws.endpoint_url)
    s3.create_bucket(Bucket="org-trail-bucket")
    day = timezone.now().strftime("%Y/%m/%d")
    prefix = f"AWSLogs/123456789012/CloudTrail/us-east-1/{day}/"
    s3.put_object(
        Bucket="org-trail-bucket",
        Key=prefix + "a_CloudTrail_us-east-1_1.json.gz",
        Body=trail_file(series(40)),
    )
    Connector.objects.filter(pk=connector.pk).update(ingest_mode="s3_trail", trail_bucket="org-trail-bucket")
    assert ingest_trail_region(connector_id=connector.pk, region="us-east-1").inserted == 40
    s3.put_object(
        Bucket="org-trail-bucket",
        Key=prefix + "b_CloudTrail_us-east-1_2.json.gz",
        Body=trail_file([record(event_id="second-file")]),
    )
    second = ingest_trail_region(connector_id=connector.pk, region="us-east-1")
    assert (second.read, second.inserted) == (1, 1)
    assert TrailFileRead.objects.filter(connector=connector).count() == 2
    assert Activity.objects.count() == 41


def test_import_cloudtrail_command(tmp_path, connector, capsys):
    gz = tmp_path / "export.json.gz"
    gz.write_bytes(trail_file(series(25)))
    lines = tmp_path / "export.jsonl"
    lines.write_text("\n".join(json.dumps(e) for e in series(5, region="eu-west-1")) + "\n{broken\n")
    call_command("import_cloudtrail", str(gz), str(lines), "--connector", "Production")
    output = capsys.readouterr().out
    assert "Read 31, inserted 30, duplicates 0, rejected 1." in output
    call_command("import_cloudtrail", str(gz), "--connector", "Production")
    assert "inserted 0, duplicates 25" in capsys.readouterr().out


def test_import_cloudtrail_stops_with_a_message_when_the_connector_is_deleted_meanwhile(
    tmp_path, connector, monkeypatch
):
    from django.core.management import CommandError

    from connectors.management.commands import import_cloudtrail

    def deleted_first(**kwargs):
        Connector.objects.filter(pk=kwargs["connector"].pk).delete()
        return store_records(**kwargs)

    monkeypatch.setattr(import_cloudtrail, "store_records", deleted_first)
    export = tmp_path / "export.json.gz"
    export.write_bytes(trail_file(series(3)))
    with pytest.raises(CommandError, match=r"was deleted while its activity was stored\. The import"):
        call_command("import_cloudtrail", str(export), "--connector", "Production")
    assert not Activity.objects.exists()


def test_import_cloudtrail_names_the_connectors_when_unknown(tmp_path, connector):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="connected apps: Production"):
        call_command("import_cloudtrail", str(tmp_path / "x.json"), "--connector", "Nope")
