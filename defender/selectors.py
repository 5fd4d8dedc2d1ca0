from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from defender.models import AuditEntry
from defender.roles import Role


def user_list(*, search: str = "", role: str = "", order_by: str = "username") -> QuerySet:
    queryset = get_user_model().objects.prefetch_related("groups")
    if search:
        queryset = queryset.filter(
            Q(username__icontains=search)
            | Q(email__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    if role in Role.values:
        queryset = queryset.filter(groups__name=Role(role).label)
    return queryset.order_by(order_by, "pk")


def audit_entries(
    *, actor: str = "", action: str = "", since: date | None = None, until: date | None = None
) -> QuerySet:
    """The audit log, newest first. ``actor`` matches the user name (also of failed sign-ins);
    ``since`` and ``until`` are inclusive days in the console's time zone."""
    queryset = AuditEntry.objects.select_related("actor")
    if actor:
        queryset = queryset.filter(actor_name__icontains=actor)
    if action:
        queryset = queryset.filter(action=action)
    if since:
        queryset = queryset.filter(at__gte=_start_of(since))
    if until:
        queryset = queryset.filter(at__lt=_start_of(until + timedelta(days=1)))
    return queryset.order_by("-at", "-id")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
