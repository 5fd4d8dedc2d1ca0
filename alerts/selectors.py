from django.db.models import Count, QuerySet

from alerts.models import Alert

ALERT_SORTS = {"created_at", "-created_at", "severity", "-severity", "last_activity_at", "-last_activity_at"}
SEVERITY_ORDER = ["high", "medium", "low", "informational"]


def alert_queue(
    *, status: str = "", severity: str = "", policy_id: str = "", sort: str = "-created_at"
) -> QuerySet[Alert]:
    queryset = Alert.objects.select_related("policy", "connector")
    if status in Alert.Status.values:
        queryset = queryset.filter(status=status)
    elif status != "all":
        queryset = queryset.exclude(status=Alert.Status.RESOLVED)
    if severity:
        queryset = queryset.filter(severity=severity)
    if policy_id.isdigit():
        queryset = queryset.filter(policy_id=int(policy_id))
    return queryset.order_by(sort if sort in ALERT_SORTS else "-created_at", "-pk")


def open_alerts_by_severity() -> list[tuple[str, int]]:
    counts = dict(
        Alert.objects.exclude(status=Alert.Status.RESOLVED).values_list("severity").annotate(n=Count("id"))
    )
    return [(severity, counts.get(severity, 0)) for severity in SEVERITY_ORDER]
