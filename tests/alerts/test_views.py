import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert
from connectors.ingestion.store import store_records
from connectors.models import Connector
from policies.models import Policy
from tests.cloudtrail import record

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


def row_titles(response) -> list[str]:
    """The queue's rows in order."""
    table = response.content.decode().split('class="data-table alert-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<a href="/alerts/\d+/">([^<]+)</a>', table)


@pytest.mark.parametrize("role", ["admin", "operator", "reader"])
def test_queue_shows_open_alerts_by_default(request, client_for, alerts, role):
    response = client_for(request.getfixturevalue(role)).get(reverse("alerts:list"))
    assert titles(response) == {"Alert 0", "Alert 1", "Alert 2"}


def test_pages_need_a_signed_in_user(client, alerts):
    for url in (reverse("home"), reverse("alerts:list"), reverse("alerts:detail", args=[alerts[0].pk])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_reader_cannot_triage_from_the_queue(client_for, reader, alerts):
    response = client_for(reader).post(reverse("alerts:bulk_assign"), {"alerts": [alerts[0].pk]})
    assert response.status_code == 403
    assert Alert.objects.get(pk=alerts[0].pk).assigned_to is None


@pytest.fixture
def varied(db, operator):
    """Alerts that differ in exactly one way each, to tell the filters apart."""
    production = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    staging = Connector.objects.create(name="Staging", status=Connector.Status.CONNECTED)
    travel = Policy.objects.create(name="Travel", severity="high", type=Policy.Type.ANOMALY)
    groups = Policy.objects.create(name="Groups", severity="medium")
    now = timezone.now()

    def make(title, **fields):
        defaults = {
            "severity": "medium",
            "policy": groups,
            "type": Policy.Type.ACTIVITY,
            "connector": production,
            "principal": "arn:aws:iam::1:user/bob",
            "principal_name": "bob",
            "first_activity_at": now,
            "last_activity_at": now,
            "dedup_key": title,
        }
        return Alert.objects.create(title=title, **{**defaults, **fields})

    make("Base")
    make("Travel anomaly", policy=travel, type=Policy.Type.ANOMALY, severity="high")
    make("Staging alert", connector=staging)
    make("Alice alert", principal="arn:aws:iam::1:user/alice", principal_name="alice")
    make("Mine", assigned_to=operator)
    make("Old alert", created_at=now - timedelta(days=10))
    make("System alert", policy=None, type="system", connector=None)
    return {"production": production, "staging": staging, "travel": travel, "now": now}


def test_each_filter_of_the_queue(client_for, operator, varied):
    client = client_for(operator)
    ten_days_ago = (timezone.localdate() - timedelta(days=10)).isoformat()
    cases = [
        ({"severity": "high"}, {"Travel anomaly"}),
        ({"policy": varied["travel"].pk}, {"Travel anomaly"}),
        ({"type": "anomaly"}, {"Travel anomaly"}),
        ({"type": "system"}, {"System alert"}),
        ({"connector": varied["staging"].pk}, {"Staging alert"}),
        ({"principal": "arn:aws:iam::1:user/alice"}, {"Alice alert"}),
        ({"principal": "ALICE"}, {"Alice alert"}),
        ({"assigned": "me"}, {"Mine"}),
        ({"date_from": ten_days_ago, "date_to": ten_days_ago}, {"Old alert"}),
        ({"date_to": ten_days_ago}, {"Old alert"}),
    ]
    for params, expected in cases:
        assert titles(client.get(reverse("alerts:list"), params)) == expected, params
    everyone = set(Alert.objects.values_list("title", flat=True))
    assert titles(client.get(reverse("alerts:list"), {"assigned": "none"})) == everyone - {"Mine"}
    assert titles(client.get(reverse("alerts:list"), {"date_from": timezone.localdate().isoformat()})) == (
        everyone - {"Old alert"}
    )


def test_status_filter(client_for, reader, alerts):
    client = client_for(reader)
    assert titles(client.get(reverse("alerts:list"), {"status": "resolved"})) == {"Alert 3"}
    assert titles(client.get(reverse("alerts:list"), {"status": "in_progress"})) == {"Alert 1"}
    assert titles(client.get(reverse("alerts:list"), {"status": "all"})) == {f"Alert {i}" for i in range(4)}


def test_invalid_filters_are_reported_not_fatal(client_for, reader, alerts):
    response = client_for(reader).get(reverse("alerts:list"), {"date_from": "yesterday", "cursor": "@@"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content
    assert titles(response) == {"Alert 0", "Alert 1", "Alert 2"}


def test_counts_per_severity_and_status_follow_the_other_filters(client_for, reader, alerts):
    other = Policy.objects.create(name="Other", severity="low")
    now = timezone.now()
    Alert.objects.create(
        title="Other high", severity="high", policy=other, first_activity_at=now, last_activity_at=now
    )
    queue = client_for(reader).get(reverse("alerts:list"), {"policy": alerts[0].policy_id}).context["queue"]
    assert dict(queue.by_severity) == {"high": 2, "medium": 1, "low": 0, "informational": 0}
    assert {value: count for value, _, count in queue.by_status} == {
        "unresolved": 3,
        "open": 2,
        "in_progress": 1,
        "resolved": 1,
        "all": 4,
    }
    queue = client_for(reader).get(reverse("alerts:list"), {"severity": "high"}).context["queue"]
    # The severity counts ignore the severity filter; the status counts apply it.
    assert dict(queue.by_severity)["medium"] == 1
    assert {value: count for value, _, count in queue.by_status}["unresolved"] == 3
    assert queue.total == 3


@pytest.fixture
def many(db):
    """130 open alerts, in runs of equal creation times and severities."""
    base = timezone.now() - timedelta(hours=1)
    Alert.objects.bulk_create(
        Alert(
            title=f"Bulk {index:03d}",
            severity=["high", "medium", "low", "informational"][index % 4],
            created_at=base + timedelta(minutes=index // 7),
            first_activity_at=base,
            last_activity_at=base + timedelta(minutes=index // 3),
            dedup_key=f"bulk{index}",
        )
        for index in range(130)
    )


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "severity", "-severity", "-last_activity_at"])
def test_queue_pages_walk_every_alert_once_in_every_sort(client_for, reader, many, sort):
    client = client_for(reader)
    url = reverse("alerts:list")
    response = client.get(url, {"sort": sort})
    pages = [row_titles(response)]
    while response.context["page"].next_cursor:
        response = client.get(url, {"sort": sort, "cursor": response.context["page"].next_cursor})
        pages.append(row_titles(response))
    walked = [title for page in pages for title in page]
    assert len(walked) == 130 and len(set(walked)) == 130
    assert [len(page) for page in pages] == [50, 50, 30]
    assert response.context["queue"].total == 130
    # Previous from the last page gives back the middle page.
    back = client.get(url, {"sort": sort, "cursor": response.context["page"].previous_cursor})
    assert row_titles(back) == pages[1]


def test_severity_sort_ranks_severities_not_their_names(client_for, reader, many):
    rows = row_titles(client_for(reader).get(reverse("alerts:list"), {"sort": "-severity"}))
    severities = dict(Alert.objects.values_list("title", "severity"))
    ranks = {"high": 3, "medium": 2, "low": 1, "informational": 0}
    assert [severities[title] for title in rows[:33]] == ["high"] * 33
    assert [ranks[severities[title]] for title in rows] == sorted(
        (ranks[severities[title]] for title in rows), reverse=True
    )


def test_queue_queries_are_bounded(client_for, operator, many, django_assert_max_num_queries):
    client = client_for(operator)
    client.get(reverse("alerts:list"))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("alerts:list"), {"sort": "-severity"})
    assert len(row_titles(response)) == 50
    cursor = response.context["page"].next_cursor
    with django_assert_max_num_queries(12):
        deeper = client.get(reverse("alerts:list"), {"sort": "-severity", "assigned": "me", "cursor": cursor})
    assert deeper.status_code == 200
    with django_assert_max_num_queries(12):
        client.get(reverse("alerts:list"), {"status": "all", "severity": "low"})


def test_unread_alerts_stand_out_until_opened(client_for, reader, alerts):
    client = client_for(reader)
    assert response_unread(client.get(reverse("alerts:list"))) == 3
    client.get(reverse("alerts:detail", args=[alerts[0].pk]))
    assert response_unread(client.get(reverse("alerts:list"))) == 2


def response_unread(response) -> int:
    return response.content.count(b'<tr class="unread"')


def test_dashboard_counts_open_alerts_by_severity(client_for, reader, alerts, django_assert_max_num_queries):
    client = client_for(reader)
    client.get(reverse("alerts:list"))
    with django_assert_max_num_queries(12):
        response = client.get("/")
    tiles = response.content.split(b'class="severity-tiles"', 1)[1].split(b"</div>", 1)[0]
    assert b"<strong>2</strong>" in tiles and b"<strong>1</strong>" in tiles
    assert b"Alert 0" in response.content


def test_dashboard_triage_list_puts_severity_before_recency(client_for, reader):
    now = timezone.now()
    Alert.objects.create(
        title="Old high",
        severity="high",
        created_at=now - timedelta(days=2),
        first_activity_at=now,
        last_activity_at=now,
        dedup_key="old-high",
    )
    Alert.objects.bulk_create(
        Alert(
            title=f"Fresh low {i}",
            severity="low",
            first_activity_at=now,
            last_activity_at=now,
            dedup_key=f"l{i}",
        )
        for i in range(20)
    )
    response = client_for(reader).get("/")
    triage = [alert.title for alert in response.context["to_triage"]]
    assert triage[0] == "Old high" and len(triage) == 8


LINK = re.compile(r'<a[^>]*href="(/alerts/\?[^"]*)"[^>]*>(.*?)</a>', re.S)


def dashboard_counts(page: str) -> list[tuple[str, int]]:
    """Every (link, number) on the dashboard that points at the alerts list."""
    counts = []
    for href, inner in LINK.findall(page):
        strong = re.search(r"<strong>(\d+)</strong>", inner)
        text = re.fullmatch(r"\s*(\d+)(?: high)?\s*", re.sub(r"<[^>]+>", "", inner))
        if strong or text:
            counts.append((unescape(href), int((strong or text).group(1))))
    return counts


@pytest.fixture
def dashboard_data(db, operator):
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    noisy = Policy.objects.create(name="Noisy", severity="low")
    travel = Policy.objects.create(name="Travel", severity="high")
    now = timezone.now()
    specs = [
        ("high", "open", travel, "alice", None, 0),
        ("high", "in_progress", travel, "alice", operator, 1),
        ("medium", "open", noisy, "bob", None, 1),
        ("low", "open", noisy, "bob", None, 3),
        ("low", "resolved", noisy, "bob", None, 3),
        ("informational", "open", noisy, "carol", operator, 12),
        ("low", "open", noisy, "", None, 45),
    ]
    for index, (severity, status, policy, name, assignee, days_ago) in enumerate(specs):
        Alert.objects.create(
            title=f"Dash {index}",
            severity=severity,
            status=status,
            policy=policy,
            connector=connector if index % 2 else None,
            principal=f"arn:aws:iam::1:user/{name}" if name else "",
            principal_name=name,
            assigned_to=assignee,
            created_at=now - timedelta(days=days_ago),
            first_activity_at=now,
            last_activity_at=now,
            dedup_key=f"dash{index}",
        )


def test_every_dashboard_number_opens_the_alerts_it_counts(client_for, operator, dashboard_data):
    client = client_for(operator)
    page = client.get("/").content.decode()
    links = dashboard_counts(page)
    kinds = {key for href, _ in links for key in parse_qs(urlsplit(href).query)}
    # Severity, status, assignment, principal, policy, connector and day (the chart's table).
    assert {"severity", "status", "assigned", "principal", "policy", "connector", "date_from"} <= kinds
    assert len(links) >= 20
    for href, count in links:
        listed = client.get(href)
        assert listed.context["queue"].total == count, href
        assert len(row_titles(listed)) == count, href


def test_dashboard_chart_data_and_scripts(client_for, reader, dashboard_data):
    response = client_for(reader).get("/")
    content = response.content.decode()
    assert 'id="alerts-over-time-data"' in content and 'id="alerts-over-time-chart"' in content
    assert "/static/vendor/chart.umd.min.js" in content and "/static/alerts/dashboard.js" in content
    chart = response.context["chart"]
    assert len(chart["days"]) == 30 and chart["days"][-1] == timezone.localdate().isoformat()
    totals = [sum(series["counts"][i] for series in chart["series"]) for i in range(30)]
    # Created today, 1, 3 (two) and 12 days ago; 45 days ago is out of the window.
    assert totals[-1] == 1 and totals[-2] == 2 and totals[-4] == 2 and totals[-13] == 1 and sum(totals) == 6


def test_dashboard_loads_recent_governance_actions_by_url_name(client_for, reader, alerts):
    response = client_for(reader).get("/")
    assert f'hx-get="{reverse("governance:recent")}"'.encode() in response.content


@override_settings(ROOT_URLCONF="tests.alerts.urls_without_governance")
def test_dashboard_without_governance_leaves_the_card_out(client_for, reader, alerts):
    response = client_for(reader).get("/")
    assert response.status_code == 200
    assert b"Recent governance actions" not in response.content


def test_dashboard_connector_health(client_for, reader, alerts):
    Connector.objects.create(
        name="Broken",
        status=Connector.Status.ERROR,
        status_reason="Missing permission cloudtrail:LookupEvents",
    )
    response = client_for(reader).get("/")
    assert b"Missing permission cloudtrail:LookupEvents" in response.content
    assert response.context["connectors"][0].open_alerts == 0


def test_alert_page_queries_are_bounded(client_for, reader, django_assert_max_num_queries):
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    now = datetime.now(UTC)
    stored = store_records(
        connector=connector,
        records=[record(at=now - timedelta(minutes=i), event_id=f"e{i}") for i in range(150)],
        source="test",
    )
    alert = Alert.objects.create(
        title="Many activities",
        severity="high",
        dedup_key="many",
        principal="arn:aws:iam::123456789012:user/alice",
        principal_name="alice",
        first_activity_at=now,
        last_activity_at=now,
        activity_count=150,
    )
    alert.activities.add(*stored.new_ids)
    Alert.objects.bulk_create(
        Alert(
            title=f"Other {i}",
            severity="low",
            principal=alert.principal,
            first_activity_at=now,
            last_activity_at=now,
            dedup_key=f"o{i}",
        )
        for i in range(30)
    )
    client = client_for(reader)
    client.get(reverse("alerts:detail", args=[alert.pk]))
    with django_assert_max_num_queries(16):
        response = client.get(reverse("alerts:detail", args=[alert.pk]))
    assert response.content.count(b"data-row-open") == 100
    assert response.context["principal"]["activity_count"] == 150
