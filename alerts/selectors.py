from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from django.utils import timezone

from alerts.filters import ALL, STATUS_CHOICES, UNRESOLVED, AlertFilter, day_start
from alerts.models import Alert, AlertEvent
from connectors.activity_log import PAGE_SIZE, KeysetPage, keyset_page
from connectors.models import Activity, Connector
from connectors.selectors import backfill_progress
from policies.models import Policy

SEVERITY_ORDER = ["high", "medium", "low", "informational"]
SEVERITY_LABELS = dict(Policy.Severity.choices)
UNRESOLVED_STATUSES = [Alert.Status.OPEN, Alert.Status.IN_PROGRESS]
# Every sort walks with keyset pagination; the primary key breaks ties, so no row is skipped or repeated.
# Severity sorts by the stored rank (Alert.severity_rank), which an index keeps in order.
ALERT_ORDERS = {
    "-created_at": ("-created_at", "-pk"),
    "created_at": ("created_at", "pk"),
    "-last_activity_at": ("-last_activity_at", "-pk"),
    "last_activity_at": ("last_activity_at", "pk"),
    "-severity": ("-severity_rank", "-created_at", "-pk"),
    "severity": ("severity_rank", "-created_at", "-pk"),
}
DEFAULT_SORT = "-created_at"
PRINCIPAL_DAYS = 30
CHART_DAYS = 30
TOP_LIMIT = 5


def _with_unread(queryset: QuerySet[Alert], user: AbstractBaseUser | None) -> QuerySet[Alert]:
    if user is None or not user.is_authenticated:
        return queryset
    read = Alert.read_by.through.objects.filter(alert_id=OuterRef("pk"), user_id=user.pk)
    return queryset.annotate(is_read=Exists(read))


@dataclass
class AlertQueue:
    filter: AlertFilter
    page: KeysetPage
    sort: str
    total: int
    by_severity: list[tuple[str, int]]
    by_status: list[tuple[str, str, int]]
    status: list[str]


def _filtered_except(alert_filter: AlertFilter, queryset: QuerySet[Alert], skip: str) -> QuerySet[Alert]:
    """``queryset`` through every valid filter of ``alert_filter`` but ``skip``: the counts beside a
    filter show what choosing each of its values would give with the other filters kept."""
    for name, value in alert_filter.form.cleaned_data.items():
        if name != skip:
            queryset = alert_filter.filters[name].filter(queryset, value)
    return queryset


def alert_queue(
    *,
    user: AbstractBaseUser | None,
    params: QueryDict,
    cursor: str | None = None,
    sort: str = DEFAULT_SORT,
    size: int = PAGE_SIZE,
) -> AlertQueue:
    """The alerts queue: ``params`` through ``AlertFilter`` (status defaults to open and in progress),
    one keyset page in ``sort`` order with ``is_read`` for ``user``, and the counts per severity and
    per status under the other filters."""
    data = params.copy()
    if not [value for value in data.getlist("status") if value]:
        data.setlist("status", [UNRESOLVED])
    rows = _with_unread(Alert.objects.select_related("policy", "connector", "assigned_to"), user)
    alert_filter = AlertFilter(data, queryset=rows, user=user)
    sort = sort if sort in ALERT_ORDERS else DEFAULT_SORT
    page = keyset_page(alert_filter.qs, cursor, size, ALERT_ORDERS[sort])

    severities = dict(
        _filtered_except(alert_filter, Alert.objects.all(), "severity")
        .order_by()
        .values_list("severity")
        .annotate(n=Count("*"))
    )
    statuses = dict(
        _filtered_except(alert_filter, Alert.objects.all(), "status")
        .order_by()
        .values_list("status")
        .annotate(n=Count("*"))
    )
    chosen_severities = alert_filter.form.cleaned_data.get("severity") or SEVERITY_ORDER
    status_counts = {
        UNRESOLVED: statuses.get(Alert.Status.OPEN, 0) + statuses.get(Alert.Status.IN_PROGRESS, 0),
        ALL: sum(statuses.values()),
        **{value: statuses.get(value, 0) for value in Alert.Status.values},
    }
    return AlertQueue(
        filter=alert_filter,
        page=page,
        sort=sort,
        total=sum(severities.get(severity, 0) for severity in chosen_severities),
        by_severity=[(severity, severities.get(severity, 0)) for severity in SEVERITY_ORDER],
        by_status=[(value, label, status_counts[value]) for value, label in STATUS_CHOICES],
        status=alert_filter.form.cleaned_data.get("status") or [ALL],
    )


@dataclass(frozen=True)
class OpenAlertGroup:
    """Unresolved alerts that share a status, severity, policy, connector and assignee."""

    status: str
    severity: str
    policy_id: int | None
    connector_id: int | None
    assigned_to_id: int | None
    n: int


def open_alert_groups() -> list[OpenAlertGroup]:
    """Unresolved alerts counted per status, severity, policy, connector and assignee in one query
    that reads an index in its order (``alert_status_counts``), never the alerts' rows. The groups are
    few (the combinations that occur), so the dashboard's tiles, top policies and connector health are
    sums of them in Python instead of three aggregates over every alert."""
    rows = (
        Alert.objects.filter(status__in=UNRESOLVED_STATUSES)
        .order_by()
        .values_list("status", "severity", "policy_id", "connector_id", "assigned_to_id")
        .annotate(n=Count("*"))
    )
    return [OpenAlertGroup(*row) for row in rows]


def open_alerts_summary(*, user: AbstractBaseUser, groups: list[OpenAlertGroup]) -> dict[str, Any]:
    """Home's tiles from ``open_alert_groups()``: open (unresolved) alerts per severity, per status,
    assigned to ``user`` and unassigned."""
    by_severity: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    mine = unassigned = 0
    for group in groups:
        by_severity[group.severity] += group.n
        by_status[group.status] += group.n
        mine += group.n if group.assigned_to_id == user.pk else 0
        unassigned += group.n if group.assigned_to_id is None else 0
    return {
        "by_severity": [(severity, by_severity[severity]) for severity in SEVERITY_ORDER],
        "total": by_status.total(),
        "open": by_status[Alert.Status.OPEN],
        "in_progress": by_status[Alert.Status.IN_PROGRESS],
        "mine": mine,
        "unassigned": unassigned,
    }


def alerts_to_triage(*, user: AbstractBaseUser | None, limit: int = 8) -> list[Alert]:
    """Unresolved alerts, most severe first and newest within a severity: a bulk import of low
    findings does not push a high one out of sight."""
    rows = Alert.objects.filter(status__in=UNRESOLVED_STATUSES).select_related("policy")
    return list(_with_unread(rows, user).order_by(*ALERT_ORDERS["-severity"])[:limit])


def alerts_over_time(*, days: int = CHART_DAYS) -> dict[str, Any]:
    """Alerts created per day over the last ``days`` days (today included, console time zone): ``days``
    (ISO dates) and one ``series`` per severity for a stacked chart, and ``rows`` for a table."""
    first = timezone.localdate() - timedelta(days=days - 1)
    series = {severity: [0] * days for severity in SEVERITY_ORDER}
    rows = (
        Alert.objects.filter(created_at__gte=day_start(first))
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values_list("day", "severity")
        .annotate(n=Count("*"))
    )
    for day, severity, count in rows:
        index = (day - first).days
        if severity in series and 0 <= index < days:
            series[severity][index] += count
    day_names = [(first + timedelta(days=offset)).isoformat() for offset in range(days)]
    return {
        "days": day_names,
        "series": [
            {"severity": severity, "label": SEVERITY_LABELS[severity], "counts": series[severity]}
            for severity in SEVERITY_ORDER
        ],
        # The same figures as rows of the days with alerts, newest first: the chart's text alternative.
        "rows": [
            (day_names[index], [(severity, series[severity][index]) for severity in SEVERITY_ORDER])
            for index in reversed(range(days))
            if any(series[severity][index] for severity in SEVERITY_ORDER)
        ],
    }


def top_principals(*, limit: int = TOP_LIMIT) -> list[dict[str, Any]]:
    """The principals with the most unresolved alerts: ``principal`` (key), ``name``, ``n``, ``high``."""
    return list(
        Alert.objects.filter(status__in=UNRESOLVED_STATUSES)
        .exclude(principal="")
        .order_by()
        .values("principal")
        .annotate(
            name=Max("principal_name"),
            n=Count("*"),
            high=Count("severity", filter=Q(severity=Policy.Severity.HIGH)),
        )
        .order_by("-n", "principal")[:limit]
    )


def top_policies(*, groups: list[OpenAlertGroup], limit: int = TOP_LIMIT) -> list[dict[str, Any]]:
    """The policies with the most unresolved alerts, from ``open_alert_groups()``: ``policy`` (id),
    ``name``, ``severity``, ``n``."""
    counts: Counter[int] = Counter()
    for group in groups:
        if group.policy_id is not None:
            counts[group.policy_id] += group.n
    policies = Policy.objects.filter(pk__in=counts).values("pk", "name", "severity")
    ranked = sorted(policies, key=lambda policy: (-counts[policy["pk"]], policy["name"]))
    return [
        {
            "policy": policy["pk"],
            "name": policy["name"],
            "severity": policy["severity"],
            "n": counts[policy["pk"]],
        }
        for policy in ranked[:limit]
    ]


def connector_health(*, groups: list[OpenAlertGroup]) -> list[Connector]:
    """Every connected account with its unresolved alerts (``open_alerts``, from
    ``open_alert_groups()``) and, while the first history import runs, its progress
    (``import_progress``, 0 to 1)."""
    open_alerts: Counter[int | None] = Counter()
    for group in groups:
        open_alerts[group.connector_id] += group.n
    connectors = list(Connector.objects.order_by("name"))
    progress = backfill_progress(connectors)
    for connector in connectors:
        connector.open_alerts = open_alerts[connector.pk]
        connector.import_progress = progress.get(connector.pk)
    return connectors


def alert_get(*, pk: int) -> Alert:
    return get_object_or_404(
        Alert.objects.select_related("policy", "connector", "assigned_to", "resolved_by"), pk=pk
    )


def alert_activities(*, alert: Alert, limit: int = 100) -> list[Activity]:
    return list(alert.activities.order_by("-event_time", "-pk")[:limit])


def alert_history(*, alert: Alert) -> list[AlertEvent]:
    return list(alert.events.select_related("actor").order_by("created_at", "pk"))


def principal_summary(*, alert: Alert, days: int = PRINCIPAL_DAYS) -> dict[str, Any] | None:
    """What ``alert.principal`` did over the last ``days`` days: activity count, countries and IP
    addresses (most used first), last console sign-in and the other open alerts about them."""
    if not alert.principal:
        return None
    since = timezone.now() - timedelta(days=days)
    recent = Activity.objects.filter(principal=alert.principal, event_time__gte=since)
    totals = recent.aggregate(count=Count("id"), last=Max("event_time"))
    countries = list(
        recent.exclude(country="").values("country").annotate(n=Count("id")).order_by("-n", "country")[:10]
    )
    ips = list(
        recent.exclude(source_ip="")
        .values("source_ip")
        .annotate(n=Count("id"))
        .order_by("-n", "source_ip")[:10]
    )
    last_sign_in = (
        recent.filter(event_name="ConsoleLogin")
        .order_by("-event_time")
        .values("event_time", "source_ip", "country", "console_login")
        .first()
    )
    open_alerts = list(
        Alert.objects.filter(principal=alert.principal, status__in=UNRESOLVED_STATUSES)
        .exclude(pk=alert.pk)
        .order_by("-created_at")
        .values("pk", "title", "severity")[:5]
    )
    return {
        "days": days,
        "activity_count": totals["count"],
        "last_activity": totals["last"],
        "countries": countries,
        "ips": ips,
        "last_sign_in": last_sign_in,
        "open_alerts": open_alerts,
    }
