from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from alerts import services
from alerts.evidence import evidence_view
from alerts.forms import BulkForm, CommentForm, DismissForm, ResolveForm, StatusForm
from alerts.models import Alert
from alerts.selectors import (
    DEFAULT_SORT,
    alert_activities,
    alert_get,
    alert_history,
    alert_queue,
    alerts_over_time,
    alerts_to_triage,
    connector_health,
    open_alert_groups,
    open_alerts_summary,
    principal_summary,
    top_policies,
    top_principals,
)
from defender.roles import Perm, require_perm


def alert_list(request):
    params = request.GET.copy()
    for paging in ("cursor", "sort"):
        params.pop(paging, None)
    queue = alert_queue(
        user=request.user,
        params=params,
        cursor=request.GET.get("cursor"),
        sort=request.GET.get("sort", DEFAULT_SORT),
    )
    return render(
        request,
        "alerts/alert_list.html",
        {
            "title": "Alerts",
            "section": "Incidents & alerts",
            "queue": queue,
            "page": queue.page,
            "filter": queue.filter,
            "default_sort": DEFAULT_SORT,
            "filters_active": any(value for value in params.values()),
            "classifications": Alert.Classification.choices,
            "any_alert": bool(queue.page.rows) or Alert.objects.exists(),
        },
    )


def _url_if_routed(name: str) -> str:
    """A URL of a higher app (reached by name, never imported), or "" while it is not installed."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def dashboard(request):
    """Home: open alerts by severity and status, alerts of the last 30 days, the principals and
    policies with the most open alerts, the alerts to triage first, and each account's health. Every
    number links to the alerts it counts."""
    over_time = alerts_over_time()
    groups = open_alert_groups()
    return render(
        request,
        "alerts/dashboard.html",
        {
            "title": "Home",
            "summary": open_alerts_summary(user=request.user, groups=groups),
            "chart": {"days": over_time["days"], "series": over_time["series"]},
            "over_time_rows": over_time["rows"],
            "to_triage": alerts_to_triage(user=request.user),
            "principals": top_principals(),
            "policies": top_policies(groups=groups),
            "connectors": connector_health(groups=groups),
            "governance_recent_url": _url_if_routed("governance:recent"),
        },
    )


def alert_detail(request, pk: int):
    """The alert page: what was found and why, the activities behind it, who the principal is, and
    the triage history. Opening it marks the alert read for the signed-in user."""
    alert = alert_get(pk=pk)
    services.alert_mark_read(alert=alert, user=request.user)
    return render(
        request,
        "alerts/alert_detail.html",
        {
            "title": alert.title,
            "alert": alert,
            "evidence": evidence_view(alert.evidence),
            "activities": alert_activities(alert=alert),
            "principal": principal_summary(alert=alert),
            "history": alert_history(alert=alert),
            "classifications": Alert.Classification.choices,
            "statuses": StatusForm.base_fields["status"].choices,
        },
    )


def _back(request, alert: Alert):
    return redirect("alerts:detail", alert.pk)


def _errors(request, form) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)


@require_POST
@require_perm(Perm.OPERATE)
def alert_assign_me(request, pk: int):
    alert = alert_get(pk=pk)
    services.alert_assign(alert=alert, assignee=request.user, by=request.user)
    messages.success(request, "The alert is assigned to you.")
    return _back(request, alert)


@require_POST
@require_perm(Perm.OPERATE)
def alert_status(request, pk: int):
    alert = alert_get(pk=pk)
    form = StatusForm(request.POST)
    if form.is_valid():
        services.alert_set_status(alert=alert, status=form.cleaned_data["status"], by=request.user)
        messages.success(request, f"Status set to {alert.get_status_display().lower()}.")
    else:
        _errors(request, form)
    return _back(request, alert)


@require_POST
@require_perm(Perm.OPERATE)
def alert_resolve(request, pk: int):
    alert = alert_get(pk=pk)
    form = ResolveForm(request.POST)
    if form.is_valid():
        try:
            services.alert_resolve(alert=alert, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Resolved as {alert.get_classification_display().lower()}.")
    else:
        _errors(request, form)
    return _back(request, alert)


@require_POST
@require_perm(Perm.OPERATE)
def alert_reopen(request, pk: int):
    alert = alert_get(pk=pk)
    try:
        services.alert_reopen(alert=alert, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The alert is open again.")
    return _back(request, alert)


@require_POST
@require_perm(Perm.OPERATE)
def alert_comment(request, pk: int):
    alert = alert_get(pk=pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        services.alert_comment(alert=alert, by=request.user, text=form.cleaned_data["text"])
        messages.success(request, "Comment added.")
    else:
        _errors(request, form)
    return redirect(reverse("alerts:detail", args=[alert.pk]) + "#history")


def _queue(request):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("alerts:list")


def _plural(count: int) -> str:
    return f"{count} alert" if count == 1 else f"{count} alerts"


@require_POST
@require_perm(Perm.OPERATE)
def bulk_assign(request):
    form = BulkForm(request.POST)
    if form.is_valid():
        count = services.alerts_assign(
            alerts=form.cleaned_data["alerts"], assignee=request.user, by=request.user
        )
        messages.success(request, f"Assigned {_plural(count)} to you.")
    else:
        _errors(request, form)
    return _queue(request)


@require_POST
@require_perm(Perm.OPERATE)
def bulk_resolve(request):
    form, details = BulkForm(request.POST), ResolveForm(request.POST)
    if form.is_valid() and details.is_valid():
        count = services.alerts_resolve(
            alerts=form.cleaned_data["alerts"], by=request.user, **details.cleaned_data
        )
        label = Alert.Classification(details.cleaned_data["classification"]).label.lower()
        messages.success(request, f"Resolved {_plural(count)} as {label}.")
    else:
        _errors(request, form)
        _errors(request, details)
    return _queue(request)


@require_POST
@require_perm(Perm.OPERATE)
def bulk_dismiss(request):
    form, details = BulkForm(request.POST), DismissForm(request.POST)
    if form.is_valid() and details.is_valid():
        count = services.alerts_dismiss(
            alerts=form.cleaned_data["alerts"], by=request.user, comment=details.cleaned_data["comment"]
        )
        messages.success(request, f"Dismissed {_plural(count)} as false positive.")
    else:
        _errors(request, form)
        _errors(request, details)
    return _queue(request)
