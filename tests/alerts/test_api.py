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
