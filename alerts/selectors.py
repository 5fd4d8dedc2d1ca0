from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, Max, OuterRef, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from alerts.models import Alert, AlertEvent
from connectors.models import Activity

ALERT_SORTS = {"created_at", "-created_at", "severity", "-severity", "last_activity_at", "-last_activity_at"}
SEVERITY_ORDER = ["high", "medium", "low", "informational"]
PRINCIPAL_DAYS = 30


def _with_unread(queryset: QuerySet[Alert], user: AbstractBaseUser | None) -> QuerySet[Alert]:
    if user is None or not user.is_authenticated:
        return queryset
    read = Alert.read_by.through.objects.filter(alert_id=OuterRef("pk"), user_id=user.pk)
    return queryset.annotate(is_read=Exists(read))


def alert_queue(
    *,
    user: AbstractBaseUser | None = None,
    status: str = "",
    severity: str = "",
    policy_id: str = "",
    assigned: str = "",
    sort: str = "-created_at",
) -> QuerySet[Alert]:
    """The alerts queue: unresolved alerts by default; ``assigned="me"`` keeps ``user``'s. Each alert
    carries ``is_read`` for ``user``."""
    queryset = Alert.objects.select_related("policy", "connector", "assigned_to")
    if status in Alert.Status.values:
        queryset = queryset.filter(status=status)
    elif status != "all":
        queryset = queryset.exclude(status=Alert.Status.RESOLVED)
    if severity:
        queryset = queryset.filter(severity=severity)
    if policy_id.isdigit():
        queryset = queryset.filter(policy_id=int(policy_id))
    if assigned == "me" and user is not None:
        queryset = queryset.filter(assigned_to_id=user.pk)
    queryset = _with_unread(queryset, user)
    return queryset.order_by(sort if sort in ALERT_SORTS else "-created_at", "-pk")


def open_alerts_by_severity() -> list[tuple[str, int]]:
    counts = dict(
        Alert.objects.exclude(status=Alert.Status.RESOLVED).values_list("severity").annotate(n=Count("id"))
    )
    return [(severity, counts.get(severity, 0)) for severity in SEVERITY_ORDER]


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
        Alert.objects.filter(principal=alert.principal)
        .exclude(status=Alert.Status.RESOLVED)
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
