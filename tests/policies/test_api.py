"""/api/v1/policies/: roles, the editor's writes through policy_save, and preview."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import Alert
from connectors.models import Activity, Connector
from policies.models import Policy, PolicyChange
from policies.services import policies_install_builtin
from tests.policies.activities import RISKY_IP, call, console_login, store

pytestmark = pytest.mark.django_db

CUSTOM = {
    "name": "Root console sign-ins",
    "severity": "high",
    "category": "Privileged accounts",
    "filters": [
        {"field": "event_name", "operator": "equals", "values": ["ConsoleLogin"]},
        {"field": "principal_type", "operator": "equals", "values": ["Root"]},
    ],
}


@pytest.fixture
def api_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def policy(db):
    policies_install_builtin()
    return Policy.objects.get(template_key="aws_cloudtrail_config_changes")


def test_anonymous_is_refused(client):
    assert client.get("/api/v1/policies/").status_code in {401, 403}


def test_readers_read_but_do_not_write(api_for, reader, policy):
    client = api_for(reader)
    listing = client.get("/api/v1/policies/?type=activity")
    assert listing.status_code == 200
    assert listing.data["count"] == 10
    assert (
        client.get(f"/api/v1/policies/{policy.pk}/").data["template_key"] == "aws_cloudtrail_config_changes"
    )
    assert client.get(f"/api/v1/policies/{policy.pk}/changes/").status_code == 200
    assert client.get("/api/v1/policies/templates/").status_code == 200
    assert client.post("/api/v1/policies/", CUSTOM, format="json").status_code == 403
    assert (
        client.patch(f"/api/v1/policies/{policy.pk}/", {"severity": "low"}, format="json").status_code == 403
    )
    assert client.post(f"/api/v1/policies/{policy.pk}/disable/").status_code == 403
    assert client.post("/api/v1/policies/preview/", {"filters": []}, format="json").status_code == 403
    assert client.delete(f"/api/v1/policies/{policy.pk}/").status_code == 403
    assert Policy.objects.get(pk=policy.pk).enabled


def test_operator_creates_a_custom_policy_with_history(api_for, operator):
    response = api_for(operator).post("/api/v1/policies/", CUSTOM, format="json")
    assert response.status_code == 201, response.data
    created = Policy.objects.get(pk=response.data["id"])
    assert created.enabled and created.type == "activity" and created.template_key == ""
    assert created.created_by == operator and response.data["created_by"] == operator.username
    (change,) = created.changes.all()
    assert change.action == PolicyChange.Action.CREATED
    assert change.changes["severity"] == [None, "high"]
    assert created.active_since > timezone.now() - timedelta(minutes=1)


def test_creating_from_a_template_starts_from_its_defaults(api_for, operator):
    response = api_for(operator).post(
        "/api/v1/policies/",
        {"template_key": "aws_iam_policy_changes", "name": "IAM changes in production", "severity": "high"},
        format="json",
    )
    assert response.status_code == 201, response.data
    assert response.data["severity"] == "high"
    assert response.data["category"] == "Privileged accounts"
    assert response.data["filters"][0]["values"] == ["iam.amazonaws.com"]
    assert response.data["mitre_tactic"] == "Privilege Escalation"


def test_invalid_policies_are_refused_with_clear_messages(api_for, operator, policy):
    client = api_for(operator)
    bad = {**CUSTOM, "filters": [{"field": "evnt_name", "operator": "equals", "values": ["x"]}]}
    response = client.post("/api/v1/policies/", bad, format="json")
    assert response.status_code == 400
    assert response.data["filters"] == ["Row 1: Unknown field 'evnt_name'"]

    empty = {**CUSTOM, "filters": [{"field": "user_agent", "operator": "contains", "values": []}]}
    assert client.post("/api/v1/policies/", empty, format="json").data["filters"] == [
        "Row 1: Operator 'contains' needs a value"
    ]
    taken = client.post("/api/v1/policies/", {**CUSTOM, "name": policy.name}, format="json")
    assert taken.status_code == 400 and "name" in taken.data
    unknown = client.post("/api/v1/policies/", {"name": "X", "template_key": "aws_nope"}, format="json")
    assert unknown.status_code == 400 and "template_key" in unknown.data
    repeated = {**CUSTOM, "match_mode": "repeated", "repeat_count": 1}
    assert "repeat_count" in client.post("/api/v1/policies/", repeated, format="json").data
    bad_mail = client.post(
        "/api/v1/policies/", {**CUSTOM, "email_recipients": ["not-an-email"]}, format="json"
    )
    assert bad_mail.status_code == 400


def test_edits_are_recorded_and_only_matching_changes_move_active_since(api_for, operator, policy):
    client = api_for(operator)
    long_ago = timezone.now() - timedelta(days=3)
    Policy.objects.filter(pk=policy.pk).update(active_since=long_ago)

    response = client.patch(f"/api/v1/policies/{policy.pk}/", {"severity": "medium"}, format="json")
    assert response.status_code == 200
    policy.refresh_from_db()
    assert policy.active_since == long_ago
    assert policy.modified_by == operator
    latest = policy.changes.first()
    assert latest.changes == {"severity": ["high", "medium"]} and latest.changed_by == operator

    filters = [*policy.filters, {"field": "region", "operator": "equals", "values": ["eu-west-1"]}]
    client.patch(f"/api/v1/policies/{policy.pk}/", {"filters": filters}, format="json")
    policy.refresh_from_db()
    assert policy.active_since > long_ago
    assert list(policy.changes.first().changes) == ["filters"]

    client.patch(f"/api/v1/policies/{policy.pk}/", {"severity": "medium"}, format="json")
    assert policy.changes.count() == 2  # nothing changed: nothing recorded

    history = client.get(f"/api/v1/policies/{policy.pk}/changes/").data
    assert [h["changed_by"] for h in history] == [operator.username, operator.username]


def test_enable_and_disable(api_for, operator, policy):
    client = api_for(operator)
    assert client.post(f"/api/v1/policies/{policy.pk}/disable/").data["enabled"] is False
    Policy.objects.filter(pk=policy.pk).update(active_since=timezone.now() - timedelta(days=1))
    enabled = client.post(f"/api/v1/policies/{policy.pk}/enable/").data
    assert enabled["enabled"] is True
    policy.refresh_from_db()
    assert policy.active_since > timezone.now() - timedelta(minutes=1)
    assert [c.changes for c in policy.changes.all()] == [
        {"enabled": [False, True]},
        {"enabled": [True, False]},
    ]


def test_delete_keeps_alerts(api_for, operator, policy):
    now = timezone.now()
    alert = Alert.objects.create(
        title="x", severity="high", policy=policy, first_activity_at=now, last_activity_at=now, dedup_key="k"
    )
    assert api_for(operator).delete(f"/api/v1/policies/{policy.pk}/").status_code == 204
    assert not Policy.objects.filter(pk=policy.pk).exists()
    alert.refresh_from_db()
    assert alert.policy is None


def test_templates_and_filter_fields_for_the_editor(api_for, reader):
    client = api_for(reader)
    templates = client.get("/api/v1/policies/templates/").data
    assert len(templates) == 22
    assert templates[0]["key"] == "aws_console_failed_logins"
    fields = client.get("/api/v1/policies/filter-fields/").data
    assert {"name": "ip_tags", "label": "IP tag", "kind": "list"} in fields["fields"]
    assert [o["name"] for o in fields["operators"]] == [
        "equals",
        "not_equals",
        "in",
        "not_in",
        "contains",
        "starts_with",
        "is_set",
        "is_not_set",
    ]


# --------------------------------------------------------------------------------------------------
# Preview


@pytest.fixture
def history(db):
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    now = timezone.now().replace(microsecond=0)
    events = [console_login(at=now - timedelta(minutes=m), user="dave") for m in range(6)]
    events += [console_login(at=now - timedelta(days=3), user="erin")]
    events += [console_login(at=now - timedelta(days=10), user="frank")]
    events += [console_login(failed=False, at=now - timedelta(minutes=1), user="dave", ip=RISKY_IP)]
    events += [call("PutBucketAcl", "s3.amazonaws.com", fixture="s3_put_bucket_acl", at=now)]
    store(connector, events)
    return now


FAILED = {"field": "console_login", "operator": "equals", "values": ["Failure"]}


def test_preview_runs_a_draft_over_stored_activity_without_raising_alerts(api_for, operator, history):
    client = api_for(operator)
    response = client.post("/api/v1/policies/preview/", {"filters": [FAILED], "days": 1}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["count"] == 6 and response.data["alerts"] == 6 and response.data["complete"]
    first = response.data["activities"][0]
    assert set(first) == {"id", "event_time", "event_name", "principal_name", "source_ip"}
    assert first["event_name"] == "ConsoleLogin" and first["principal_name"] == "dave"
    assert (
        client.post("/api/v1/policies/preview/", {"filters": [FAILED], "days": 7}, format="json").data[
            "count"
        ]
        == 7
    )
    assert (
        client.post("/api/v1/policies/preview/", {"filters": [FAILED], "days": 30}, format="json").data[
            "count"
        ]
        == 8
    )
    assert not Alert.objects.exists()


def test_preview_applies_scope_repeated_mode_and_list_fields(api_for, operator, history):
    client = api_for(operator)

    def preview(**body):
        response = client.post("/api/v1/policies/preview/", {"days": 7, **body}, format="json")
        assert response.status_code == 200, response.data
        return response.data

    assert preview(filters=[FAILED], scope_exclude=["dave"])["count"] == 1
    repeated = preview(
        filters=[FAILED],
        match_mode="repeated",
        repeat_count=5,
        repeat_minutes=10,
        repeat_group_by="principal",
    )
    assert repeated["count"] == 7 and repeated["alerts"] == 1
    bucket = preview(filters=[{"field": "resource", "operator": "equals", "values": ["finance-reports"]}])
    assert bucket["count"] == 1 and bucket["activities"][0]["event_name"] == "PutBucketAcl"
    assert (
        preview(filters=[{"field": "ip_category", "operator": "equals", "values": ["risky"]}])["count"] == 1
    )


def test_preview_validates_its_draft(api_for, operator):
    client = api_for(operator)
    bad = client.post("/api/v1/policies/preview/", {"filters": [{"field": "nope"}], "days": 2}, format="json")
    assert bad.status_code == 400
    assert bad.data["filters"] == ["Row 1: Unknown field 'nope'"]
    assert "days" in bad.data
    anomaly = client.post("/api/v1/policies/preview/", {"type": "anomaly"}, format="json")
    assert anomaly.data["type"] == ["Preview runs activity policies only."]
    assert Activity.objects.count() == 0
