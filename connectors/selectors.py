from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet

from connectors.models import Activity, Connector, IamUser, IngestCheckpoint

CONNECTOR_SORTS = {
    "name",
    "-name",
    "status",
    "-status",
    "last_activity_at",
    "-last_activity_at",
    "last_health_check",
    "-last_health_check",
    "events_ingested",
    "-events_ingested",
}


def connector_list(*, sort: str = "name") -> QuerySet[Connector]:
    return Connector.objects.order_by(sort if sort in CONNECTOR_SORTS else "name", "pk")


def backfill_progress(connectors: list[Connector]) -> dict[int, float]:
    """Share of the first history import done, per connector still importing (one query)."""
    progress: dict[int, list[float]] = {}
    for checkpoint in IngestCheckpoint.objects.filter(connector__in=connectors, region_disabled_until=None):
        progress.setdefault(checkpoint.connector_id, []).append(checkpoint.backfill_fraction)
    return {pk: sum(values) / len(values) for pk, values in progress.items() if min(values) < 1.0}


ACCOUNT_SORTS = {
    "user_name",
    "-user_name",
    "created",
    "-created",
    "password_last_used",
    "-password_last_used",
}


def iam_user_list(*, search: str = "", connector_id: str = "", sort: str = "user_name") -> QuerySet[IamUser]:
    queryset = IamUser.objects.select_related("connector")
    if search:
        queryset = queryset.filter(user_name__icontains=search) | queryset.filter(email__icontains=search)
    if connector_id.isdigit():
        queryset = queryset.filter(connector_id=int(connector_id))
    return queryset.order_by(sort if sort in ACCOUNT_SORTS else "user_name", "pk")


def activity_summary(principals: list[str]) -> dict[str, dict]:
    """Activity count and last activity per principal, for one page of accounts (one query)."""
    rows = (
        Activity.objects.filter(principal__in=principals)
        .values("principal")
        .annotate(count=Count("id"), last=Max("event_time"))
    )
    return {row["principal"]: row for row in rows}


def history_page(
    *, connector_id: int, upto_id: int, after: tuple[datetime, int] | None, size: int
) -> list[tuple[int, datetime]]:
    """The next ``size`` (id, event time) of a connector's activities up to ``upto_id``, oldest first,
    after the (event time, id) cursor ``after``."""
    activities = Activity.objects.filter(connector_id=connector_id, pk__lte=upto_id)
    if after is not None:
        after_time, after_id = after
        later = Q(event_time__gt=after_time) | Q(event_time=after_time, pk__gt=after_id)
        activities = activities.filter(later)
    return list(activities.order_by("event_time", "pk").values_list("pk", "event_time")[:size])
