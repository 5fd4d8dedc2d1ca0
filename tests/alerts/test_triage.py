"""Triage: the alert_* services and their history, the queue's bulk commands, the alert page, roles."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from alerts import services
from alerts.models import Alert, AlertEvent
from connectors.ingestion.store import store_records
from connectors.models import Activity, Connector
from policies.models import Policy
from tests.cloudtrail import record

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)


def make_alert(
    index: int = 0, *, policy=None, principal: str = "arn:aws:iam::123456789012:user/alice", **fields
):
    policy = policy or Policy.objects.get_or_create(name="Test policy", defaults={"severity": "high"})[0]
    values = {
        "title": f"Alert {index}",
        "severity": "high",
        "policy": policy,
        "principal": principal,
        "principal_name": principal.rsplit("/", 1)[-1],
        "first_activity_at": NOW,
        "last_activity_at": NOW,
        "dedup_key": f"k{index}",
    }
    values.update(fields)
    return Alert.objects.create(**values)


@pytest.fixture
def connector(db):
    return Connector.objects.create(
        name="Production", status=Connector.Status.CONNECTED, account_id="123456789012"
    )


@pytest.fixture
def alert_with_activities(connector):
    stored = store_records(
        connector=connector,
        records=[
            record("iam_user_api_call", at=NOW - timedelta(hours=i), event_id=f"evt-{i}") for i in range(3)
        ],
        source="test",
    )
    activity = Activity.objects.get(pk=stored.new_ids[0])
    alert = make_alert(
        principal=activity.principal,
        connector=connector,
        ips=[activity.source_ip],
        description="Alice did something unusual.",
        evidence={
            "from": {"city": "Paris", "country": "FR", "latitude": 48.85, "longitude": 2.35},
            "to": {"city": "Sydney", "country": "AU", "latitude": -33.87, "longitude": 151.21},
            "distance_km": 16960.4,
            "hours": 1.5,
            "speed_kmh": 11306.9,
            "region": "us-east-1",
        },
    )
    alert.activities.add(*stored.new_ids)
    make_alert(1, principal=activity.principal, title="Another alert about Alice")
    return alert


def kinds(alert: Alert) -> list[str]:
    return list(alert.events.order_by("created_at", "pk").values_list("kind", flat=True))


# --------------------------------------------------------------------------------------------------
# Services


def test_assign_records_who_and_when(operator, admin):
    alert = make_alert()
    services.alert_assign(alert=alert, assignee=operator, by=admin)
    assert alert.assigned_to == operator
    event = alert.events.get()
    assert (event.kind, event.actor, event.data["assignee"]) == ("assigned", admin, operator.username)
    assert event.created_at is not None
    services.alert_assign(alert=alert, assignee=operator, by=admin)  # no change, no new entry
    assert alert.events.count() == 1


def test_set_status_records_the_change_and_refuses_resolved(operator):
    alert = make_alert()
    services.alert_set_status(alert=alert, status=Alert.Status.IN_PROGRESS, by=operator)
    assert alert.status == "in_progress"
    event = alert.events.get()
    assert event.kind == "status_changed" and event.actor == operator
    assert event.message == "Status changed from Open to In progress."
    with pytest.raises(ValidationError, match="classification and a comment"):
        services.alert_set_status(alert=alert, status=Alert.Status.RESOLVED, by=operator)


def test_resolve_needs_a_classification_and_a_comment(operator):
    alert = make_alert()
    with pytest.raises(ValidationError, match="Add a comment"):
        services.alert_resolve(alert=alert, by=operator, classification="true_positive", comment="  ")
    with pytest.raises(ValidationError, match="Choose how to classify"):
        services.alert_resolve(alert=alert, by=operator, classification="maybe", comment="Checked")
    alert.refresh_from_db()
    assert alert.status == "open" and not alert.events.exists()

    services.alert_resolve(alert=alert, by=operator, classification="true_positive", comment=" Confirmed. ")
    assert (alert.status, alert.classification, alert.resolution_comment) == (
        "resolved",
        "true_positive",
        "Confirmed.",
    )
    assert alert.resolved_by == operator and alert.resolved_at is not None
    event = alert.events.get()
    assert (event.kind, event.message, event.data["classification"]) == (
        "resolved",
        "Confirmed.",
        "true_positive",
    )


def test_reopen_clears_the_classification_and_keeps_the_history(operator):
    alert = make_alert()
    with pytest.raises(ValidationError, match="Only a resolved alert"):
        services.alert_reopen(alert=alert, by=operator)
    services.alert_resolve(alert=alert, by=operator, classification="benign", comment="Expected change")
    services.alert_reopen(alert=alert, by=operator)
    assert (alert.status, alert.classification, alert.resolution_comment) == ("open", "", "")
    assert alert.resolved_at is None and alert.resolved_by is None
    assert kinds(alert) == ["resolved", "reopened"]
    assert "benign" in alert.events.last().message


def test_set_status_on_a_resolved_alert_reopens_it(operator):
    alert = make_alert()
    services.alert_resolve(alert=alert, by=operator, classification="benign", comment="Expected")
    services.alert_set_status(alert=alert, status=Alert.Status.IN_PROGRESS, by=operator)
    assert (alert.status, alert.classification) == ("in_progress", "")
    assert kinds(alert) == ["resolved", "reopened"]


def test_comment_is_recorded_and_required(operator):
    alert = make_alert()
    with pytest.raises(ValidationError):
        services.alert_comment(alert=alert, by=operator, text=" ")
    event = services.alert_comment(alert=alert, by=operator, text="Looking into it")
    assert (event.kind, event.actor, event.message) == ("commented", operator, "Looking into it")


def test_bulk_assign_resolve_and_dismiss(operator, admin):
    alerts = [make_alert(i) for i in range(4)]
    assert services.alerts_assign(alerts=alerts[:3], assignee=operator, by=operator) == 3
    assert Alert.objects.filter(assigned_to=operator).count() == 3
    assert (
        services.alerts_resolve(
            alerts=alerts[:2], by=operator, classification="benign", comment="Maintenance window"
        )
        == 2
    )
    # Already resolved alerts are skipped, the others dismissed.
    assert services.alerts_dismiss(alerts=alerts[1:], by=admin, comment="Test account") == 2
    rows = {a.title: (a.status, a.classification) for a in Alert.objects.all()}
    assert rows == {
        "Alert 0": ("resolved", "benign"),
        "Alert 1": ("resolved", "benign"),
        "Alert 2": ("resolved", "false_positive"),
        "Alert 3": ("resolved", "false_positive"),
    }
    assert AlertEvent.objects.filter(kind="resolved").count() == 4
    assert AlertEvent.objects.filter(kind="assigned").count() == 3
    with pytest.raises(ValidationError):
        services.alerts_dismiss(alerts=alerts, by=admin, comment="")


def test_raising_an_alert_records_its_creation(connector):
    from alerts.services import alert_raise
    from policies.engine import Finding

    policy = Policy.objects.create(name="Raise policy", severity="medium")
    alert = alert_raise(
        finding=Finding(
            policy_key="x",
            title="Raised",
            severity="medium",
            principal="p",
            first_seen=NOW,
            last_seen=NOW,
            key="raise-1",
            policy_id=policy.pk,
        )
    )
    assert kinds(alert) == ["created"]
    assert alert.events.get().message == "Raised by the policy Raise policy."


# --------------------------------------------------------------------------------------------------
# Roles: every write needs Perm.OPERATE


def post_routes(alert: Alert) -> list[tuple[str, dict]]:
    return [
        (reverse("alerts:assign", args=[alert.pk]), {}),
        (reverse("alerts:status", args=[alert.pk]), {"status": "in_progress"}),
        (reverse("alerts:resolve", args=[alert.pk]), {"classification": "true_positive", "comment": "ok"}),
        (reverse("alerts:reopen", args=[alert.pk]), {}),
        (reverse("alerts:comment", args=[alert.pk]), {"text": "hello"}),
        (reverse("alerts:bulk_assign"), {"alerts": [alert.pk]}),
        (reverse("alerts:bulk_resolve"), {"alerts": [alert.pk], "classification": "benign", "comment": "ok"}),
        (reverse("alerts:bulk_dismiss"), {"alerts": [alert.pk], "comment": "ok"}),
    ]


def test_reader_cannot_change_anything(client_for, reader):
    alert = make_alert()
    client = client_for(reader)
    for url, data in post_routes(alert):
        assert client.post(url, data).status_code == 403, url
    alert.refresh_from_db()
    assert alert.status == "open" and alert.assigned_to is None and not alert.events.exists()


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_operator_and_admin_can_triage(request, client_for, role):
    user = request.getfixturevalue(role)
    alert = make_alert()
    client = client_for(user)
    for url, data in post_routes(alert):
        assert client.post(url, data).status_code == 302, url
    assert kinds(alert) == ["assigned", "status_changed", "resolved", "reopened", "commented", "resolved"]


def test_get_is_not_allowed_on_writes(client_for, operator):
    alert = make_alert()
    assert client_for(operator).get(reverse("alerts:resolve", args=[alert.pk])).status_code == 405


def test_resolve_without_comment_shows_the_error(client_for, operator):
    alert = make_alert()
    response = client_for(operator).post(
        reverse("alerts:resolve", args=[alert.pk]),
        {"classification": "true_positive", "comment": ""},
        follow=True,
    )
    assert b"Add a comment that says why." in response.content
    alert.refresh_from_db()
    assert alert.status == "open"


def test_bulk_dismiss_returns_to_the_filtered_queue(client_for, operator):
    alerts = [make_alert(i) for i in range(3)]
    response = client_for(operator).post(
        reverse("alerts:bulk_dismiss"),
        {"alerts": [alerts[0].pk, alerts[1].pk], "comment": "Scanner", "next": "/alerts/?severity=high"},
    )
    assert response.status_code == 302 and response.url == "/alerts/?severity=high"
    assert set(Alert.objects.filter(classification="false_positive").values_list("title", flat=True)) == {
        "Alert 0",
        "Alert 1",
    }
    evil = client_for(operator).post(
        reverse("alerts:bulk_assign"), {"alerts": [alerts[2].pk], "next": "https://evil.example/"}
    )
    assert evil.url == reverse("alerts:list")


# --------------------------------------------------------------------------------------------------
# Pages


def test_queue_assigned_to_me_filter_and_unread_rows(client_for, operator, admin):
    mine, theirs = make_alert(0), make_alert(1)
    services.alert_assign(alert=mine, assignee=operator, by=operator)
    services.alert_assign(alert=theirs, assignee=admin, by=admin)
    services.alert_mark_read(alert=mine, user=operator)
    client = client_for(operator)
    content = client.get(reverse("alerts:list"), {"assigned": "me"}).content.decode()
    assert ">Alert 0</a>" in content and ">Alert 1</a>" not in content
    content = client.get(reverse("alerts:list")).content.decode()
    assert content.count('class="unread"') == 1  # Alert 1 only: operator opened Alert 0
    assert "data-bulk-select" in content and "Dismiss as false positive" in content


def test_reader_sees_the_queue_without_bulk_commands(client_for, reader):
    make_alert()
    content = client_for(reader).get(reverse("alerts:list")).content.decode()
    assert ">Alert 0</a>" in content
    assert "data-bulk-select" not in content and "Dismiss as false positive" not in content


def test_alert_page_shows_evidence_activities_principal_and_marks_read(
    client_for, operator, alert_with_activities
):
    alert = alert_with_activities
    services.alert_comment(alert=alert, by=operator, text="Calling Alice")
    response = client_for(operator).get(reverse("alerts:detail", args=[alert.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Alice did something unusual." in content
    # Travel evidence: both places, distance, time and speed; the rest as a definition list.
    assert "Paris, FR" in content and "Sydney, AU" in content
    assert "16,960 km" in content and "90 minutes" in content
    assert "11,307 km/h" in content
    assert '<dt>Region</dt><dd class="wrap">us-east-1</dd>' in content
    # Related activities open the activity drawer.
    for activity in alert.activities.all():
        assert reverse("connectors:activity_drawer", args=[activity.pk]) in content
    # Principal summary: 3 activities, the other open alert about the same user.
    assert "Another alert about Alice" in content
    assert "principal=" in content and ">3</a>" in content
    assert "Calling Alice" in content
    assert reverse("policies:detail", args=[alert.policy_id]) in content
    # The governance card is filled by the governance app, reached by URL name.
    assert f'hx-get="{reverse("governance:alert_panel", args=[alert.pk])}"' in content
    for action in ("Assign to me", "Change status", "Resolve alert"):
        assert action in content
    assert alert.read_by.filter(pk=operator.pk).exists()


def test_reader_sees_the_alert_page_without_actions(client_for, reader, alert_with_activities):
    content = (
        client_for(reader).get(reverse("alerts:detail", args=[alert_with_activities.pk])).content.decode()
    )
    assert "Alice did something unusual." in content
    for action in ("Assign to me", "Change status", "Resolve alert", "Reopen", 'name="text"'):
        assert action not in content


def test_resolved_alert_page_offers_reopen(client_for, operator):
    alert = make_alert()
    services.alert_resolve(alert=alert, by=operator, classification="false_positive", comment="Known scanner")
    content = client_for(operator).get(reverse("alerts:detail", args=[alert.pk])).content.decode()
    assert "Reopen" in content and "Resolve alert" not in content
    assert "Known scanner" in content and "false positive" in content


def test_unknown_alert_is_404(client_for, reader):
    assert client_for(reader).get(reverse("alerts:detail", args=[999])).status_code == 404


def test_query_counts_are_bounded(client_for, operator, alert_with_activities, django_assert_max_num_queries):
    for index in range(2, 30):
        alert = make_alert(index, principal=f"p{index}")
        services.alert_assign(alert=alert, assignee=operator, by=operator)
        services.alert_comment(alert=alert_with_activities, by=operator, text=f"note {index}")
    client = client_for(operator)
    client.get(reverse("alerts:list"))
    with django_assert_max_num_queries(10):
        client.get(reverse("alerts:list"), {"status": "all"})
    client.get(reverse("alerts:detail", args=[alert_with_activities.pk]))
    with django_assert_max_num_queries(16):
        client.get(reverse("alerts:detail", args=[alert_with_activities.pk]))
