import random
from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from alerts.models import Alert
from alerts.selectors import (
    ALERT_ORDERS,
    SEVERITY_ORDER,
    alert_queue,
    alerts_over_time,
    alerts_to_triage,
    open_alert_groups,
    top_policies,
    top_principals,
)
from connectors.activity_log import encode_cursor, keyset_page
from policies.models import Policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def tied(db):
    """90 alerts whose sort keys repeat a lot: 5 creation times, 4 severities, 3 last-activity times."""
    rng = random.Random(7)
    base = timezone.now() - timedelta(days=1)
    Alert.objects.bulk_create(
        Alert(
            title=f"T{index}",
            severity=rng.choice(SEVERITY_ORDER),
            created_at=base + timedelta(minutes=rng.randrange(5)),
            first_activity_at=base,
            last_activity_at=base + timedelta(seconds=rng.randrange(3)),
            dedup_key=f"t{index}",
        )
        for index in range(90)
    )


def python_order(order) -> list[int]:
    """The expected order, computed in Python from the rows' values (the severity's rank from its
    place in SEVERITY_ORDER, not from the stored column under test)."""
    rows = list(Alert.objects.all())
    for row in rows:
        row.expected_rank = len(SEVERITY_ORDER) - SEVERITY_ORDER.index(row.severity)
    for term in reversed(order):
        name = term.removeprefix("-").replace("severity_rank", "expected_rank")
        rows.sort(key=lambda row: getattr(row, name), reverse=term.startswith("-"))
    return [row.pk for row in rows]


@pytest.mark.parametrize("sort", sorted(ALERT_ORDERS))
@pytest.mark.parametrize("size", [1, 7, 30])
def test_keyset_walks_forward_and_back_without_skipping_or_repeating(tied, sort, size):
    order = ALERT_ORDERS[sort]
    queryset = Alert.objects.all()
    pages, cursor = [], None
    while True:
        page = keyset_page(queryset, cursor, size, order)
        pages.append([row.pk for row in page.rows])
        assert (page.previous_cursor is None) == (len(pages) == 1)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert [pk for rows in pages for pk in rows] == python_order(order)
    # Walking back with previous_cursor gives the same pages in reverse.
    back = [pages[-1]]
    while page.previous_cursor:
        page = keyset_page(queryset, page.previous_cursor, size, order)
        back.append([row.pk for row in page.rows])
    assert back[::-1] == pages


@pytest.mark.parametrize("cursor", ["", "not-base64!", encode_cursor(["x"]), encode_cursor(["soon", 3])])
def test_unreadable_cursor_gives_the_first_page(tied, cursor):
    page = keyset_page(Alert.objects.all(), cursor, 10, ("-created_at", "-pk"))
    assert [row.pk for row in page.rows] == python_order(("-created_at", "-pk"))[:10]
    assert page.previous_cursor is None


def test_queue_counts_and_total_match_the_filtered_rows(tied):
    Alert.objects.filter(pk__in=Alert.objects.order_by("pk").values("pk")[:20]).update(status="resolved")
    queue = alert_queue(user=None, params=QueryDict("severity=high&severity=low"), size=500)
    expected = Alert.objects.exclude(status="resolved").filter(severity__in=["high", "low"])
    assert queue.total == expected.count() == len(queue.page.rows)
    assert {row.pk for row in queue.page.rows} == set(expected.values_list("pk", flat=True))
    unresolved = Alert.objects.exclude(status="resolved")
    assert dict(queue.by_severity) == {s: unresolved.filter(severity=s).count() for s in SEVERITY_ORDER}
    statuses = {value: count for value, _, count in queue.by_status}
    assert (
        statuses["resolved"] == Alert.objects.filter(status="resolved", severity__in=["high", "low"]).count()
    )
    assert statuses["all"] == Alert.objects.filter(severity__in=["high", "low"]).count()
    assert queue.status == ["unresolved"]


def test_triage_order_is_severity_then_recency(db):
    now = timezone.now()
    for index, (severity, age) in enumerate(
        [("low", 0), ("high", 5), ("medium", 1), ("high", 2), ("low", 1)]
    ):
        Alert.objects.create(
            title=f"{severity} {age}",
            severity=severity,
            created_at=now - timedelta(hours=age),
            first_activity_at=now,
            last_activity_at=now,
            dedup_key=str(index),
        )
    Alert.objects.create(
        title="resolved high", severity="high", status="resolved", first_activity_at=now, last_activity_at=now
    )
    assert [alert.title for alert in alerts_to_triage(user=None)] == [
        "high 2",
        "high 5",
        "medium 1",
        "low 0",
        "low 1",
    ]


def test_alerts_over_time_buckets_days_by_severity(db):
    now = timezone.now()
    for index, (severity, days_ago) in enumerate(
        [("high", 0), ("high", 0), ("low", 0), ("medium", 29), ("low", 30)]
    ):
        Alert.objects.create(
            title=str(index),
            severity=severity,
            created_at=now - timedelta(days=days_ago),
            first_activity_at=now,
            last_activity_at=now,
            dedup_key=str(index),
        )
    chart = alerts_over_time(days=30)
    series = {row["severity"]: row["counts"] for row in chart["series"]}
    assert (series["high"][-1], series["low"][-1], series["medium"][0]) == (2, 1, 1)
    assert sum(sum(counts) for counts in series.values()) == 4
    assert chart["rows"][0] == (
        chart["days"][-1],
        [("high", 2), ("medium", 0), ("low", 1), ("informational", 0)],
    )
    assert len(chart["rows"]) == 2


def test_top_principals_and_policies_count_open_alerts(db):
    now = timezone.now()
    noisy, quiet = Policy.objects.create(name="Noisy"), Policy.objects.create(name="Quiet", severity="high")
    rows = [
        ("alice", noisy, "open", "high"),
        ("alice", quiet, "in_progress", "high"),
        ("alice", noisy, "open", "low"),
        ("bob", noisy, "open", "low"),
        ("bob", noisy, "resolved", "low"),
        ("", noisy, "open", "low"),
    ]
    for index, (name, policy, status, severity) in enumerate(rows):
        Alert.objects.create(
            title=str(index),
            severity=severity,
            status=status,
            policy=policy,
            principal=f"arn:aws:iam::1:user/{name}" if name else "",
            principal_name=name,
            first_activity_at=now,
            last_activity_at=now,
            dedup_key=str(index),
        )
    assert [(row["name"], row["n"], row["high"]) for row in top_principals()] == [
        ("alice", 3, 2),
        ("bob", 1, 0),
    ]
    assert [(row["name"], row["n"]) for row in top_policies(groups=open_alert_groups())] == [
        ("Noisy", 4),
        ("Quiet", 1),
    ]
