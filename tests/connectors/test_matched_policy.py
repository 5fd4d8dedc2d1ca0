"""The activity log's "matched policy" filter and the drawer's matched policies (PRODUCT.md 5)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from alerts.models import Alert
from connectors.ingestion.store import store_records
from connectors.models import Activity, Connector
from policies.models import Policy
from tests.cloudtrail import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def matched(db):
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    now = datetime.now(UTC)
    store_records(
        connector=connector,
        records=[record(at=now - timedelta(minutes=i), event_id=f"e{i}") for i in range(6)],
        source="test",
    )
    policy = Policy.objects.create(name="Root account usage", severity="high")
    other = Policy.objects.create(name="Unrelated policy", severity="low")
    alert = Alert.objects.create(
        title="Root used the console",
        severity="high",
        policy=policy,
        first_activity_at=now,
        last_activity_at=now,
        dedup_key="matched-1",
    )
    alert.activities.set(Activity.objects.filter(event_id__in=["e1", "e3"]))
    return policy, other, alert


def test_matched_policy_filter_keeps_the_activities_its_alerts_link(client_for, reader, matched):
    policy, other, _ = matched
    client = client_for(reader)
    url = reverse("connectors:activity")

    content = client.get(url, {"policy": policy.pk}).content.decode()
    assert content.count("data-row-open") == 2
    assert client.get(url, {"policy": other.pk}).content.decode().count("data-row-open") == 0
    assert client.get(url).content.decode().count("data-row-open") == 6


def test_matched_policy_filter_in_the_api(client_for, reader, matched):
    policy, _, _ = matched
    body = client_for(reader).get("/api/v1/activities/", {"policy": policy.pk}).json()
    assert sorted(row["event_id"] for row in body["results"]) == ["e1", "e3"]


def test_unknown_policy_is_a_clear_filter_error(client_for, reader, matched):
    response = client_for(reader).get("/api/v1/activities/", {"policy": 999999})
    assert response.status_code == 400
    assert "policy" in response.json()


def test_drawer_lists_the_matched_policies(client_for, reader, matched):
    policy, _, alert = matched
    client = client_for(reader)
    linked = Activity.objects.get(event_id="e1")
    unlinked = Activity.objects.get(event_id="e2")

    body = client.get(reverse("connectors:activity_drawer", args=[linked.pk])).content.decode()
    assert policy.name in body
    assert reverse("alerts:detail", args=[alert.pk]) in body
    body = client.get(reverse("connectors:activity_drawer", args=[unlinked.pk])).content.decode()
    assert "No policy has raised an alert on this activity." in body
