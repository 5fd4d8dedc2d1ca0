"""Alert filters, shared by the alerts queue page and /api/v1/alerts/ so both answer the same
question the same way."""

from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from alerts.models import ALERT_TYPE_CHOICES, Alert
from connectors.filters import principal_condition
from connectors.models import Connector
from policies.models import Policy

UNRESOLVED = "unresolved"
ALL = "all"
STATUS_CHOICES = [
    (UNRESOLVED, "Open and in progress"),
    *Alert.Status.choices,
    (ALL, "All"),
]


def day_start(day: date) -> datetime:
    """Midnight of ``day`` in the console's time zone: the dashboard's chart counts days the same way."""
    return timezone.make_aware(datetime.combine(day, time.min))


class AlertFilter(django_filters.FilterSet):
    """``status`` takes ``unresolved`` (open and in progress) and ``all`` besides the statuses; the page
    defaults to ``unresolved``, the API to every status. ``assigned=me`` needs ``user`` (or a request)."""

    status = django_filters.MultipleChoiceFilter(
        label="Status", choices=STATUS_CHOICES, method="filter_status"
    )
    severity = django_filters.MultipleChoiceFilter(label="Severity", choices=Policy.Severity.choices)
    policy = django_filters.ModelChoiceFilter(
        label="Policy", queryset=Policy.objects.order_by("name"), empty_label="Any policy"
    )
    type = django_filters.ChoiceFilter(label="Type", choices=ALERT_TYPE_CHOICES, empty_label="Any type")
    principal = django_filters.CharFilter(label="User", method="filter_principal")
    connector = django_filters.ModelChoiceFilter(
        label="App", queryset=Connector.objects.order_by("name"), empty_label="All apps"
    )
    assigned = django_filters.ChoiceFilter(
        label="Assigned", choices=[("me", "Assigned to me"), ("none", "Unassigned")], method="filter_assigned"
    )
    date_from = django_filters.DateFilter(
        label="From", method="filter_date_from", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        label="To", method="filter_date_to", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Alert
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None, user=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.user = user if user is not None else getattr(request, "user", None)

    def filter_status(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        chosen = set(value)
        if not chosen or ALL in chosen:
            return queryset
        if UNRESOLVED in chosen:
            chosen |= {Alert.Status.OPEN, Alert.Status.IN_PROGRESS}
        return queryset.filter(status__in=chosen & set(Alert.Status.values))

    def filter_principal(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """The principal's key (an ARN, as the dashboard links) or its name as people type it, by the
        activity log's rule (``principal_condition``)."""
        return queryset.filter(principal_condition(value)) if value.strip() else queryset

    def filter_assigned(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "none":
            return queryset.filter(assigned_to__isnull=True)
        if value == "me" and self.user is not None and self.user.is_authenticated:
            return queryset.filter(assigned_to_id=self.user.pk)
        return queryset.none() if value == "me" else queryset

    def filter_date_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__gte=day_start(value))

    def filter_date_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__lt=day_start(value + timedelta(days=1)))
