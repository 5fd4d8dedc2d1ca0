"""The dashboard's numbers come from one grouped count (open_alert_groups) and the severity sort from a
stored rank: both must give exactly what counting and ranking the alerts one by one gives, and on
PostgreSQL they must read the indexes made for them."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from alerts.filters import AlertFilter
from alerts.models import Alert
from alerts.selectors import (
    SEVERITY_ORDER,
    UNRESOLVED_STATUSES,
    alerts_to_triage,
    connector_health,
    open_alert_groups,
    open_alerts_summary,
    top_policies,
)
from connectors.models import Connector
from policies.models import Policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(db, operator, admin):
    """300 alerts over every combination that the dashboard sums: statuses, severities, policies (and
    none), connectors (and none), assignees (and none)."""
    rng = random.Random(11)
    policies = [Policy.objects.create(name=f"Policy {index}", severity="medium") for index in range(4)]
    connectors = [Connector.objects.create(name=f"Account {index}") for index in range(3)]
    now = timezone.now()
    Alert.objects.bulk_create(
        Alert(
            title=f"A{index}",
            severity=rng.choice(SEVERITY_ORDER),
            status=rng.choice(Alert.Status.values),
            policy=rng.choice([*policies, None]),
            connector=rng.choice([*connectors, None]),
            assigned_to=rng.choice([operator, admin, None]),
            created_at=now - timedelta(minutes=index),
            first_activity_at=now,
            last_activity_at=now,
            dedup_key=f"a{index}",
        )
        for index in range(300)
    )


def unresolved():
    return Alert.objects.exclude(status=Alert.Status.RESOLVED)


def test_summary_counts_each_alert_once(mixed, operator):
    summary = open_alerts_summary(user=operator, groups=open_alert_groups())
    assert dict(summary["by_severity"]) == {
        s: unresolved().filter(severity=s).count() for s in SEVERITY_ORDER
    }
    assert summary["total"] == unresolved().count()
    assert summary["open"] == Alert.objects.filter(status=Alert.Status.OPEN).count()
    assert summary["in_progress"] == Alert.objects.filter(status=Alert.Status.IN_PROGRESS).count()
    assert summary["mine"] == unresolved().filter(assigned_to=operator).count()
    assert summary["unassigned"] == unresolved().filter(assigned_to__isnull=True).count()


def test_top_policies_and_connector_health_match_direct_counts(mixed):
    groups = open_alert_groups()
    expected = sorted(
        ((policy.name, unresolved().filter(policy=policy).count()) for policy in Policy.objects.all()),
        key=lambda row: (-row[1], row[0]),
    )
    assert [(row["name"], row["n"]) for row in top_policies(groups=groups, limit=10)] == [
        row for row in expected if row[1]
    ]
    health = {connector.name: connector.open_alerts for connector in connector_health(groups=groups)}
    assert health == {c.name: unresolved().filter(connector=c).count() for c in Connector.objects.all()}


def test_a_triage_change_shows_at_once(client_for, operator, mixed):
    """No cache between the alerts and the dashboard: resolving an alert changes the next page."""
    client = client_for(operator)
    before = client.get(reverse("home")).context["summary"]["total"]
    Alert.objects.filter(pk=unresolved().order_by("pk").values("pk")[:1]).update(status=Alert.Status.RESOLVED)
    assert client.get(reverse("home")).context["summary"]["total"] == before - 1


def test_severity_rank_is_kept_by_the_database(db):
    now = timezone.now()
    alert = Alert.objects.create(
        title="Rank", severity="low", first_activity_at=now, last_activity_at=now, dedup_key="rank"
    )
    alert.refresh_from_db()
    assert alert.severity_rank == 2
    # A bulk update bypasses save(): the stored rank still follows.
    Alert.objects.filter(pk=alert.pk).update(severity="high")
    alert.refresh_from_db()
    assert alert.severity_rank == 4


def test_dashboard_queries_are_bounded(client_for, reader, mixed, django_assert_max_num_queries):
    client = client_for(reader)
    client.get(reverse("home"))
    with django_assert_max_num_queries(12):
        assert client.get(reverse("home")).status_code == 200


def test_dashboard_needs_a_signed_in_user(client, mixed):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- plans on PostgreSQL --------------------------------------------------------------------------


def plan(queryset) -> str:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE alerts_alert")
    return queryset.explain()


@pytest.fixture
def many(db):
    """Enough alerts, mostly resolved, for PostgreSQL's planner to prefer an index to reading them all."""
    now = timezone.now()
    Alert.objects.bulk_create(
        Alert(
            title=f"B{index}",
            severity=SEVERITY_ORDER[index % 4],
            status=Alert.Status.OPEN if index % 50 == 0 else Alert.Status.RESOLVED,
            principal=f"arn:aws:iam::1:user/user{index % 500}",
            principal_name=f"user{index % 500}",
            created_at=now - timedelta(minutes=index),
            first_activity_at=now,
            last_activity_at=now,
            dedup_key=f"b{index}",
        )
        for index in range(5000)
    )


needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="The indexes serve PostgreSQL's plans"
)


@needs_postgresql
def test_severity_sort_walks_the_rank_index(many):
    queryset = Alert.objects.order_by("-severity_rank", "-created_at", "-pk")[:8]
    assert "alert_severity_rank" in plan(queryset)
    assert [a.severity for a in alerts_to_triage(user=None)] == ["high"] * 8


@needs_postgresql
def test_open_alert_groups_read_the_counts_index(many):
    queryset = (
        Alert.objects.filter(status__in=UNRESOLVED_STATUSES)
        .order_by()
        .values_list("status", "severity", "policy_id", "connector_id", "assigned_to_id")
    )
    assert "alert_status_counts" in plan(queryset)


@needs_postgresql
def test_principal_name_filter_reads_its_index(many):
    queryset = AlertFilter({"principal": "USER7", "status": ["all"]}, queryset=Alert.objects.all()).qs
    assert "alert_principal_name" in plan(queryset)
    assert queryset.count() == 10
