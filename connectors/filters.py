"""Activity filters, shared by the activity log page, its CSV export and /api/v1/activities/."""

import ipaddress
from datetime import timedelta

import django_filters
from django import forms
from django.apps import apps
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from connectors.models import Activity, Connector

PERIODS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "180d": timedelta(days=180),
}


class ActivityFilter(django_filters.FilterSet):
    period = django_filters.ChoiceFilter(
        label="Period",
        method="filter_period",
        empty_label="Any time",
        choices=[
            ("1h", "Last hour"),
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
            ("90d", "Last 90 days"),
            ("180d", "Last 180 days"),
        ],
    )
    start = django_filters.IsoDateTimeFilter(
        field_name="event_time",
        lookup_expr="gte",
        label="From",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = django_filters.IsoDateTimeFilter(
        field_name="event_time",
        lookup_expr="lte",
        label="To",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    principal = django_filters.CharFilter(
        label="User / principal",
        method="filter_principal",
        help_text="A principal's name (IAM user, role session, root) in any case, or its key (ARN) exactly.",
        widget=forms.TextInput(attrs={"placeholder": "Name or ARN"}),
    )
    ip = django_filters.CharFilter(label="IP address", method="filter_ip")
    ip_category = django_filters.CharFilter(label="IP category", field_name="ip_category")
    ip_tag = django_filters.CharFilter(label="IP tag", method="filter_ip_tag")
    country = django_filters.CharFilter(label="Country", method="filter_country")
    event_name = django_filters.CharFilter(label="Action", method="filter_event_name")
    service = django_filters.CharFilter(label="Service", field_name="service")
    region = django_filters.CharFilter(label="Region", field_name="region")
    administrative = django_filters.ChoiceFilter(
        label="Administrative",
        method="filter_administrative",
        empty_label="Any",
        choices=[("true", "Administrative only"), ("false", "Not administrative")],
    )
    result = django_filters.ChoiceFilter(
        label="Result",
        method="filter_result",
        empty_label="Any result",
        choices=[("succeeded", "Succeeded"), ("failed", "Failed")],
    )
    connector = django_filters.ModelChoiceFilter(
        label="App", queryset=Connector.objects.order_by("name"), empty_label="All apps"
    )
    principal_type = django_filters.ChoiceFilter(
        label="Principal type",
        field_name="principal_type",
        choices=Activity.PrincipalType.choices,
        empty_label="Any type",
    )
    policy = django_filters.ChoiceFilter(
        label="Matched policy", method="filter_policy", empty_label="Any policy", choices=lambda: _policies()
    )
    q = django_filters.CharFilter(label="Search", method="filter_text")

    class Meta:
        model = Activity
        fields: list[str] = []

    def filter_period(self, queryset, name, value):
        return (
            queryset.filter(event_time__gte=timezone.now() - PERIODS[value]) if value in PERIODS else queryset
        )

    def filter_principal(self, queryset, name, value):
        return queryset.filter(principal_condition(value))

    def filter_ip(self, queryset, name, value):
        value = value.strip()
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return queryset.filter(source_ip=value)
        if network.num_addresses == 1:
            return queryset.filter(ip_address=str(network.network_address))
        return queryset.filter(ip_address__in_network=str(network))

    def filter_ip_tag(self, queryset, name, value):
        if not _json_contains_supported():
            return queryset.filter(ip_tags__icontains=f'"{value}"')
        # The tagged-only condition lets PostgreSQL use its partial GIN index (activity_ip_tags).
        return queryset.filter(ip_tags__contains=value).exclude(ip_tags=[])

    def filter_country(self, queryset, name, value):
        return queryset.filter(country__in=[c.strip().upper() for c in value.split(",") if c.strip()])

    def filter_event_name(self, queryset, name, value):
        names = [n.strip() for n in value.split(",") if n.strip()]
        prefixes = [n[:-1] for n in names if n.endswith("*")]
        exact = [n for n in names if not n.endswith("*")]
        condition = Q(event_name__in=exact) if exact else Q()
        for prefix in prefixes:
            condition |= Q(event_name__startswith=prefix)
        return queryset.filter(condition)

    def filter_administrative(self, queryset, name, value):
        return queryset.filter(administrative=value == "true")

    def filter_result(self, queryset, name, value):
        return queryset.filter(succeeded=value == "succeeded")

    def filter_policy(self, queryset, name, value: str):
        # Activities an alert of the policy links: the alerts app's relation, reached by name.
        links = Activity.alerts.through.objects.filter(activity_id=OuterRef("pk"), alert__policy_id=value)
        return queryset.filter(Exists(links))

    def filter_text(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(
            Q(principal_name__icontains=value)
            | Q(event_name__icontains=value)
            | Q(source_ip=value)
            | Q(principal=value)
            | Q(event_id=value)
            | Q(access_key_id=value)
        )


def principal_condition(value: str, *, key: str = "principal", name: str = "principal_name") -> Q:
    """Who ``value`` names: a principal key (an ARN, ``account:...``, ``identitycenter:...``,
    ``unknown:...`` or an AWS service such as ``ec2.amazonaws.com``) matches that key exactly; anything
    else is a principal's name (IAM user name, role session name, ``root``), matched case-insensitively.
    Each is one indexed lookup (``activity_principal_time``, ``activity_principal_name_time``), so the
    filter stays fast at millions of activities. The alerts' filter uses the same rule."""
    value = value.strip()
    if ":" in value or value.endswith(".amazonaws.com"):
        return Q(**{key: value})
    return Q(**{f"{name}__iexact": value})


def _policies() -> list[tuple[int, str]]:
    # Policies live in a higher layer: looked up through the app registry, never imported.
    policy_model = apps.get_model("policies", "Policy")
    return list(policy_model.objects.order_by("name").values_list("id", "name"))


def _json_contains_supported() -> bool:
    from django.db import connection

    return connection.features.supports_json_field_contains


SUGGESTED_QUERIES = [
    ("Failed log-ins", "event_name=ConsoleLogin&result=failed"),
    ("Admin activities", "administrative=true"),
    ("Console sign-ins", "event_name=ConsoleLogin"),
    ("Deletions", "event_name=Delete*,TerminateInstances"),
]
