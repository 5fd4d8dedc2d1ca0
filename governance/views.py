from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from alerts.models import Alert
from connectors.models import Connector
from defender.roles import Perm, require_perm
from governance import services
from governance.actions.registry import actions_for, all_actions, get_action
from governance.forms import RunForm
from governance.models import GovernanceRun
from governance.selectors import alert_targets, recent_runs, run_get, run_list


def _rows(runs) -> list[dict]:
    """Runs with what the templates cannot work out themselves: the action and whether it reverts."""
    return [
        {"run": run, "action": get_action(run.action), "revertible": services.can_revert(run)} for run in runs
    ]


def log(request):
    """Cloud apps > Governance log: every run, newest first, with filters."""
    queryset = run_list(
        status=request.GET.get("status", ""),
        action=request.GET.get("action", ""),
        connector_id=request.GET.get("connector", ""),
        alert_id=request.GET.get("alert", ""),
        trigger=request.GET.get("trigger", ""),
        search=request.GET.get("q", ""),
        sort=request.GET.get("sort", "-created_at"),
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    rows = _rows(page)
    context = {
        "title": "Governance log",
        "section": "Cloud apps",
        "page": page,
        "rows": rows,
        "polling": any(row["run"].is_active for row in rows),
        "default_sort": "-created_at",
        "actions": all_actions(),
        "statuses": GovernanceRun.Status.choices,
        "connectors": Connector.objects.order_by("name"),
        "any_run": GovernanceRun.objects.exists(),
    }
    if request.headers.get("HX-Request"):
        return render(request, "governance/_runs_table.html", context)
    return render(request, "governance/log.html", context)


def run_drawer(request, pk: int):
    try:
        run = run_get(pk=pk)
    except GovernanceRun.DoesNotExist as missing:
        raise Http404("No such governance run.") from missing
    return render(request, "governance/_run_drawer.html", {"row": _rows([run])[0]})


def recent(request):
    """The 8 latest runs as a fragment for a dashboard card (hx-get)."""
    return render(request, "governance/_recent.html", {"rows": _rows(recent_runs(limit=8))})


def alert_panel(request, alert_id: int):
    """The alert page's governance card (hx-get): the policy's actions and those that fit the alert's
    user and buckets, and the runs already made for it."""
    alert = get_object_or_404(Alert.objects.select_related("policy", "connector"), pk=alert_id)
    targets = alert_targets(alert=alert)
    suggested = set(alert.policy.governance_actions or ()) if alert.policy else set()
    groups = []
    for target_type, label in GovernanceRun.TargetType.choices:
        for target in targets[target_type]:
            groups.append(
                {
                    "type": target_type,
                    "type_label": label,
                    "target": target,
                    "name": alert.principal_name or target if target_type == "user" else target,
                    "actions": [
                        {"action": action, "suggested": action.key in suggested}
                        for action in sorted(actions_for(target_type), key=lambda a: a.key not in suggested)
                    ],
                }
            )
    connector = alert.connector
    return render(
        request,
        "governance/_alert_panel.html",
        {
            "alert": alert,
            "connector": connector,
            "groups": groups,
            "rows": _rows(run_list(alert_id=alert.pk)[:10]),
        },
    )


def _next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


@require_perm(Perm.OPERATE)
def run_new(request):
    """The confirmation naming exactly what will change (GET ?action=&connector=&target=[&alert=]);
    its POST creates the run and goes back to the log (or ``next``)."""
    form = RunForm(request.POST if request.method == "POST" else request.GET)
    form.is_valid()
    data = form.cleaned_data
    action = get_action(data.get("action") or request.GET.get("action", ""))
    connector = data.get("connector")
    if action is None or connector is None or not data.get("target"):
        raise Http404("Choose an action, a connected account and a target.")
    if request.method == "POST" and form.is_valid():
        try:
            run = services.run_create(
                action_key=action.key,
                connector=connector,
                target=data["target"],
                parameters=form.parameters(),
                alert=data.get("alert"),
                by=request.user,
            )
        except ValidationError as error:
            form.add_error(None, " ".join(error.messages))
        else:
            messages.success(request, f"{action.label} on {run.target} is queued.")
            return redirect(_next(request, f"{reverse('governance:log')}?q={run.target}"))
    blocked = services.blocked_reason(action_key=action.key, connector=connector)
    context = {
        "title": action.label,
        "section": "Cloud apps",
        "form": form,
        "action": action,
        "connector": connector,
        "target": data["target"],
        "alert": data.get("alert"),
        "description": action.describe(target=data["target"], parameters=form.parameters()),
        "blocked": blocked,
        "next": _next(request, ""),
        "cancel_url": _cancel_url(request, data.get("alert")),
    }
    template = (
        "governance/_run_confirm_drawer.html"
        if request.headers.get("HX-Request")
        else "governance/run_new.html"
    )
    return render(request, template, context)


def _cancel_url(request, alert: Alert | None) -> str:
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(referer, {request.get_host()}, request.is_secure()):
        return _next(request, referer)
    return _next(request, reverse("alerts:detail", args=[alert.pk]) if alert else reverse("governance:log"))


def _runs_back(request):
    return redirect(_next(request, reverse("governance:log")))


@require_POST
@require_perm(Perm.OPERATE)
def run_retry(request, pk: int):
    run = get_object_or_404(GovernanceRun, pk=pk)
    try:
        services.run_retry(run=run, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{run.target}: the action is queued again.")
    return _runs_back(request)


@require_POST
@require_perm(Perm.OPERATE)
def run_revert(request, pk: int):
    run = get_object_or_404(GovernanceRun, pk=pk)
    try:
        services.run_request_revert(run=run, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{run.target}: the revert is queued.")
    return _runs_back(request)
