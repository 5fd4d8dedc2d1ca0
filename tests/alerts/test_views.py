from datetime import UTC, datetime

import pytest
from django.urls import reverse

from alerts.models import Alert
from policies.models import Policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts(db):
    policy = Policy.objects.create(name="Test policy", severity="high")
    now = datetime.now(UTC)
    made = []
    for index, (severity, status) in enumerate(
        [("high", "open"), ("high", "in_progress"), ("medium", "open"), ("low", "resolved")]
    ):
        made.append(
            Alert.objects.create(
                title=f"Alert {index}",
                severity=severity,
                status=status,
                policy=policy,
                principal=f"p{index}",
                first_activity_at=now,
                last_activity_at=now,
                dedup_key=f"k{index}",
            )
        )
    return made


def titles(response) -> set[str]:
    """Alerts listed as rows: each row's title links to the alert page."""
    return {a.title for a in Alert.objects.all() if f">{a.title}</a>".encode() in response.content}


@pytest.mark.parametrize("role", ["admin", "operator", "reader"])
def test_queue_shows_open_alerts_by_default(request, client_for, alerts, role):
    response = client_for(request.getfixturevalue(role)).get(reverse("alerts:list"))
    assert titles(response) == {"Alert 0", "Alert 1", "Alert 2"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"severity": "high"}, {"Alert 0", "Alert 1"}),
        ({"status": "resolved"}, {"Alert 3"}),
        ({"status": "all"}, {"Alert 0", "Alert 1", "Alert 2", "Alert 3"}),
    ],
)
def test_filters(client_for, reader, alerts, params, expected):
    assert titles(client_for(reader).get(reverse("alerts:list"), params)) == expected


def test_dashboard_counts_open_alerts_by_severity(client_for, reader, alerts, django_assert_max_num_queries):
    client = client_for(reader)
    client.get(reverse("alerts:list"))
    with django_assert_max_num_queries(10):
        response = client.get("/")
    tiles = response.content.split(b'class="severity-tiles"', 1)[1].split(b"</div>", 1)[0]
    assert b"<strong>2</strong>" in tiles and b"<strong>1</strong>" in tiles
    assert b"Alert 0" in response.content
