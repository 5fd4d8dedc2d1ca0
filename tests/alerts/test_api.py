from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from alerts.models import Alert, AlertEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def alerts(db):
    now = datetime.now(UTC)
    return [
        Alert.objects.create(
            title=f"A{i}", severity=sev, first_activity_at=now, last_activity_at=now, dedup_key=f"api{i}"
        )
        for i, sev in enumerate(["high", "high", "low"])
    ]


def test_list_filters_by_severity_and_status(api_for, reader, alerts):
    data = api_for(reader).get("/api/v1/alerts/", {"severity": "high", "status": "open"}).json()
    assert {a["title"] for a in data["results"]} == {"A0", "A1"}


def test_operator_assigns_comments_and_resolves(api_for, operator, alerts):
    client = api_for(operator)
    url = f"/api/v1/alerts/{alerts[0].pk}/"
    assert client.patch(url, {"assigned_to": operator.username}, format="json").json()["assigned_to"] == (
        operator.username
    )
    refused = client.patch(url, {"status": "resolved", "classification": "true_positive"}, format="json")
    assert refused.status_code == 400 and "comment" in refused.json()["detail"]
    resolved = client.patch(
        url,
        {"status": "resolved", "classification": "true_positive", "comment": "Confirmed with the owner."},
        format="json",
    ).json()
    assert (resolved["status"], resolved["classification"]) == ("resolved", "true_positive")
    assert AlertEvent.objects.filter(alert=alerts[0], kind="resolved", actor=operator).exists()


def test_bulk_resolve(api_for, operator, alerts):
    response = api_for(operator).post(
        "/api/v1/alerts/bulk-resolve/",
        {"ids": [alerts[1].pk, alerts[2].pk], "classification": "false_positive", "comment": "Scanner test."},
        format="json",
    )
    assert response.json() == {"resolved": 2}
    assert Alert.objects.filter(status="resolved").count() == 2


def test_reader_cannot_change(api_for, reader, alerts):
    client = api_for(reader)
    assert (
        client.patch(f"/api/v1/alerts/{alerts[0].pk}/", {"status": "in_progress"}, format="json").status_code
        == 403
    )
    assert client.post("/api/v1/alerts/bulk-resolve/", {}, format="json").status_code == 403
    assert Alert.objects.get(pk=alerts[0].pk).status == "open"


def test_list_shares_the_queue_filters(api_for, operator, alerts):
    now = datetime.now(UTC)
    anomaly = Alert.objects.create(
        title="Anomaly",
        severity="medium",
        type="anomaly",
        principal="arn:aws:iam::1:user/alice",
        principal_name="alice",
        assigned_to=operator,
        first_activity_at=now,
        last_activity_at=now,
        dedup_key="api-anomaly",
    )
    client = api_for(operator)

    def listed(**params) -> set[str]:
        response = client.get("/api/v1/alerts/", params)
        assert response.status_code == 200, response.content
        return {row["title"] for row in response.json()["results"]}

    assert listed(type="anomaly") == {"Anomaly"}
    assert listed(principal="ALICE") == {"Anomaly"}
    assert listed(assigned="me") == {"Anomaly"}
    assert listed(status="unresolved", severity="low") == {"A2"}
    today = anomaly.created_at.date().isoformat()
    assert listed(date_from=today, date_to=today) == {"A0", "A1", "A2", "Anomaly"}
    assert listed(date_to="2001-01-01") == set()
    assert client.get("/api/v1/alerts/", {"date_from": "someday"}).status_code == 400


def test_api_needs_a_user(alerts):
    assert APIClient().get("/api/v1/alerts/").status_code in (401, 403)
