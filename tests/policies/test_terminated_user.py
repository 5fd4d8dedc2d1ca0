"""anomaly_terminated_user: activity of a principal whose person left, after they left."""

from datetime import timedelta

import pytest

from alerts.models import Alert
from alerts.services import detect_activities
from connectors import directory
from connectors.models import Connector, IamUser
from policies.engine import PolicySpec, evaluate_batch
from policies.templates.registry import get_template
from tests.policies.activities import T0, activity, call

CSV = (
    "email,display name,status,terminated at\n"
    "eunji.han@example.com,Eunji Han,terminated,2026-11-28T09:00:00Z\n"
    "alice@example.com,Alice Kim,active,\n"
)


def spec() -> PolicySpec:
    return get_template("anomaly_terminated_user").spec()


def snapshot() -> dict:
    rows, errors = directory.parse_directory_csv(CSV.encode())
    assert not errors
    return directory.snapshot_of(rows)


def run(events: list[dict], people: dict) -> list:
    return evaluate_batch([spec()], [activity(e) for e in events], states={}, context={"directory": people})


def test_activity_after_termination_alerts_once_with_the_person_and_the_time():
    before = call("ListBuckets", "s3.amazonaws.com", at=T0 - timedelta(hours=2), user="eunji.han")
    after = [
        call("GetObject", "s3.amazonaws.com", at=T0 + timedelta(minutes=m), user="eunji.han") for m in (1, 5)
    ]
    findings = run([before, *after], snapshot())
    assert len(findings) == 1
    finding = findings[0]
    assert finding.principal == "arn:aws:iam::123456789012:user/eunji.han"
    assert set(finding.event_ids) == {e["eventID"] for e in after}
    assert "Eunji Han (eunji.han@example.com) was terminated at 2026-11-28 09:00 UTC" in finding.description
    assert finding.evidence["activities_after"] == 2


def test_active_people_unknown_principals_and_activity_before_termination_are_quiet():
    events = [
        call("ListBuckets", "s3.amazonaws.com", at=T0, user="alice"),
        call("ListBuckets", "s3.amazonaws.com", at=T0, user="someone.else"),
        call("ListBuckets", "s3.amazonaws.com", at=T0 - timedelta(hours=3), user="eunji.han"),
    ]
    assert run(events, snapshot()) == []
    assert run([call("ListBuckets", "s3.amazonaws.com", at=T0, user="eunji.han")], {}) == []


def test_sso_session_named_by_email_maps_to_the_person():
    event = call("ListBuckets", "s3.amazonaws.com", fixture="assumed_role_sso", at=T0)
    event["userIdentity"]["arn"] = (
        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_1/eunji.han@example.com"
    )
    event["userIdentity"]["principalId"] = "AROAEXAMPLE:eunji.han@example.com"
    findings = run([event], snapshot())
    assert len(findings) == 1


@pytest.mark.django_db
def test_worker_path_uses_the_directory_and_the_iam_email_tag(admin):
    from policies.services import policies_install_builtin
    from tests.policies.activities import store

    policies_install_builtin()
    directory.directory_import_csv(data=CSV.encode())
    connector = Connector.objects.create(name="Prod", status=Connector.Status.CONNECTED)
    IamUser.objects.create(
        connector=connector,
        user_name="ehan",
        arn="arn:aws:iam::123456789012:user/ehan",
        email="eunji.han@example.com",
    )
    ids = store(
        connector, [call("DeleteBucket", "s3.amazonaws.com", at=T0 + timedelta(hours=1), user="ehan")]
    )
    detect_activities(activity_ids=ids)
    alert = Alert.objects.get(policy__template_key="anomaly_terminated_user")
    assert alert.principal == "arn:aws:iam::123456789012:user/ehan"
    assert "Eunji Han" in alert.title


@pytest.mark.django_db
def test_leaver_deleted_in_entra_id_is_known_to_the_policy_after_a_sync(admin, fake_graph, tmp_path):
    """The demo's way (localaws.graph serving a scenario's directory.csv): the terminated person is a
    deleted Entra ID user; the sync makes her terminated at her deletion time."""
    from connectors.entra_sync import EntraSettings, entra_connection_save, identity_provider_sync
    from localaws.graph import load_directory_csv
    from policies.services import policies_install_builtin
    from tests.policies.activities import store

    scenario_csv = tmp_path / "directory.csv"
    scenario_csv.write_text(
        "email,display_name,status,terminated_at\n"
        "eunji.han@example.com,Eunji Han,terminated,2026-11-28T09:00:00Z\n"
        "alice@example.com,Alice Kim,active,\n"
    )
    assert load_directory_csv(fake_graph, scenario_csv) == 2
    config = EntraSettings(
        tenant_id=fake_graph.tenant_id,
        client_id=fake_graph.client_id,
        client_secret=fake_graph.client_secret,
        graph_base_url=fake_graph.base_url,
        login_base_url=fake_graph.login_url,
    )
    entra_connection_save(config=config, by=admin)
    counts = identity_provider_sync()
    assert (counts.seen, counts.created) == (2, 2)
    policies_install_builtin()
    connector = Connector.objects.create(name="Prod", status=Connector.Status.CONNECTED)
    ids = store(
        connector,
        [
            call("ListBuckets", "s3.amazonaws.com", at=T0 - timedelta(hours=2), user="eunji.han"),
            call("DeleteBucket", "s3.amazonaws.com", at=T0 + timedelta(hours=1), user="eunji.han"),
            call("DeleteBucket", "s3.amazonaws.com", at=T0 + timedelta(hours=1), user="alice"),
        ],
    )
    detect_activities(activity_ids=ids)
    alert = Alert.objects.get(policy__template_key="anomaly_terminated_user")
    assert alert.principal == "arn:aws:iam::123456789012:user/eunji.han"
    assert "2026-11-28 09:00 UTC" in alert.description
