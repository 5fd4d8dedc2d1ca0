"""Cloud apps > Policies: the list, the editor (create from a template or blank, edit), preview,
enable/disable, history, and one policy as YAML. Everyone with a role reads; writing needs OPERATE."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from connectors.models import Activity
from defender.roles import Perm, require_perm
from policies import editor, services
from policies.engine import PolicySpec
from policies.forms import (
    CATEGORIES,
    PREVIEW_DAYS,
    ActivityPolicyForm,
    DetectorPolicyForm,
    ImportForm,
    PreviewForm,
)
from policies.models import Policy
from policies.selectors import PREVIEW_ACTIVITIES, policy_preview
from policies.templates.registry import all_templates, get_template

SECTION = "Cloud apps"
TITLE = "Policies"
TYPE_TABS = (
    ("", "All"),
    (Policy.Type.ACTIVITY, "Activity"),
    (Policy.Type.ANOMALY, "Anomaly detection"),
    (Policy.Type.FILE, "File"),
)
SEVERITY_RANK = Case(
    When(severity=Policy.Severity.HIGH, then=Value(3)),
    When(severity=Policy.Severity.MEDIUM, then=Value(2)),
    When(severity=Policy.Severity.LOW, then=Value(1)),
    default=Value(0),
    output_field=IntegerField(),
)
SORTS = {
    "name": "name",
    "type": "type",
    "severity": "severity_rank",
    "category": "category",
    "enabled": "enabled",
    "open_alerts": "open_alerts",
    "modified_at": "modified_at",
}
RESOLVED = "resolved"  # alerts.Alert.Status.RESOLVED: policies never import the alerts app


def _has_alerts() -> bool:
    """Whether the alerts app is installed (its Alert has a foreign key to Policy named ``alerts``)."""
    return any(rel.name == "alerts" for rel in Policy._meta.related_objects)


def _open_alerts_count():
    return Count("alerts", filter=~Q(alerts__status=RESOLVED), distinct=True)


def _context(**extra) -> dict:
    return {"section": SECTION, **extra}


# --------------------------------------------------------------------------------------------------
# List


@require_perm(Perm.VIEW)
def policy_list(request):
    search = request.GET.get("q", "").strip()
    kind = request.GET.get("type", "")
    if kind not in Policy.Type.values:
        kind = ""
    matching = Policy.objects.all()
    if search:
        matching = matching.filter(name__icontains=search)
    per_type = dict(matching.order_by().values_list("type").annotate(n=Count("pk")))
    tabs = [
        {
            "value": value,
            "label": label,
            "count": sum(per_type.values()) if not value else per_type.get(value, 0),
            "url": "?" + urlencode({k: v for k, v in (("type", value), ("q", search)) if v}),
        }
        for value, label in TYPE_TABS
    ]
    queryset = matching.filter(type=kind) if kind else matching
    queryset = queryset.select_related("modified_by").annotate(severity_rank=SEVERITY_RANK)
    alerts = _has_alerts()
    if alerts:
        queryset = queryset.annotate(open_alerts=_open_alerts_count())
    sort = request.GET.get("sort", "name")
    key = SORTS.get(sort.lstrip("-"), "name")
    if key == "open_alerts" and not alerts:
        key = "name"
    order = f"-{key}" if sort.startswith("-") else key
    page = Paginator(queryset.order_by(order, "name", "pk"), 100).get_page(request.GET.get("page"))
    return render(
        request,
        "policies/policy_list.html",
        _context(
            title=TITLE,
            page=page,
            tabs=tabs,
            kind=kind,
            search=search,
            default_sort="name",
            alerts_installed=alerts,
            next_url=request.get_full_path(),
            any_policy=bool(per_type) or Policy.objects.exists(),
        ),
    )


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


@require_POST
@require_perm(Perm.OPERATE)
def policy_set_enabled(request, pk: int):
    policy = get_object_or_404(Policy, pk=pk)
    enabled = request.POST.get("enabled") == "1"
    services.policy_set_enabled(policy=policy, enabled=enabled, by=request.user)
    if enabled:
        messages.success(
            request, f"{policy.name} is enabled. Activities that arrive from now on can raise alerts."
        )
    else:
        messages.success(request, f"{policy.name} is disabled. It raises no alerts until enabled again.")
    return redirect(_safe_next(request, reverse("policies:detail", args=[policy.pk])))


# --------------------------------------------------------------------------------------------------
# Create


@require_perm(Perm.OPERATE)
def policy_new(request):
    """Create policy > Activity policy: blank, or from one of the AWS activity templates."""
    templates = all_templates(Policy.Type.ACTIVITY)
    return render(
        request,
        "policies/policy_new.html",
        _context(title="Create activity policy", templates=templates),
    )


def _editor_context(request, form, **extra) -> dict:
    can_operate = request.user.has_perm(Perm.OPERATE)
    return {
        "form": form,
        "fields": editor.field_choices(),
        "operators": editor.operator_choices(),
        "hints": editor.value_hints(),
        "categories": CATEGORIES,
        "preview_days": PREVIEW_DAYS,
        "blank_row": editor.FilterRow(),
        "editable": can_operate and not getattr(form, "read_only", False),
        **extra,
    }


@require_perm(Perm.OPERATE)
def policy_create(request):
    key = request.POST.get("template_key") if request.method == "POST" else request.GET.get("template")
    template = get_template(key) if key else None
    if key and (template is None or template.type != Policy.Type.ACTIVITY):
        raise Http404("No such activity policy template.")
    if request.method == "POST":
        form = ActivityPolicyForm(request.POST)
        if form.is_valid():
            data = {**form.to_data(), "type": Policy.Type.ACTIVITY, "template_key": key or ""}
            try:
                policy = services.policy_save(policy=None, data=data, by=request.user)
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                messages.success(
                    request,
                    f"Policy {policy.name} was created. Activities that arrive from now on raise alerts.",
                )
                return redirect("policies:detail", pk=policy.pk)
    else:
        values = (
            template.policy_fields()
            if template
            else {"severity": Policy.Severity.MEDIUM, "match_mode": Policy.MatchMode.SINGLE, "filters": []}
        )
        values.setdefault("name", "")
        values.update(enabled=True, create_alert=True, daily_alert_limit=100, repeat_group_by="")
        values.setdefault("repeat_count", 5)
        values.setdefault("repeat_minutes", 10)
        if values["name"]:
            values["name"] = editor.unique_name(values["name"])
        initial, rows = ActivityPolicyForm.initial_for(values)
        if not rows:
            rows = [editor.FilterRow()]
        form = ActivityPolicyForm(initial=initial, rows=rows)
    return render(
        request,
        "policies/policy_edit.html",
        _context(
            title=f"New policy from {template.name}" if template else "New activity policy",
            **_editor_context(request, form, template=template, creating=True),
        ),
    )


# --------------------------------------------------------------------------------------------------
# One policy


def _policy(pk: int) -> Policy:
    return get_object_or_404(Policy.objects.select_related("created_by", "modified_by"), pk=pk)


def _open_alerts(policy: Policy) -> int | None:
    if not _has_alerts():
        return None
    return policy.alerts.exclude(status=RESOLVED).count()


def _page_extra(policy: Policy) -> dict:
    template = get_template(policy.template_key) if policy.template_key else None
    return {
        "policy": policy,
        "template": template,
        "open_alerts": _open_alerts(policy),
        "change_count": policy.changes.count(),
    }


@require_perm(Perm.VIEW)
def policy_detail(request, pk: int):
    can_operate = request.user.has_perm(Perm.OPERATE)
    # Refused before the lookup, so a reader's POST learns nothing about which policies exist.
    if request.method == "POST" and not can_operate:
        raise PermissionDenied("Your role does not allow this action.")
    policy = _policy(pk)
    data = request.POST if request.method == "POST" else None
    if policy.type == Policy.Type.ACTIVITY:
        values = {name: getattr(policy, name) for name in services.EDITABLE_FIELDS}
        initial, rows = ActivityPolicyForm.initial_for(values)
        form = ActivityPolicyForm(data, initial=initial, rows=rows, read_only=not can_operate)
    else:
        form = DetectorPolicyForm(
            data, initial=DetectorPolicyForm.initial_for(policy), policy=policy, read_only=not can_operate
        )
    if data is not None and form.is_valid():
        try:
            services.policy_save(policy=policy, data=form.to_data(), by=request.user)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Policy {policy.name} was saved.")
            return redirect("policies:detail", pk=policy.pk)
    return render(
        request,
        "policies/policy_edit.html",
        _context(title=policy.name, tab="settings", **_editor_context(request, form, **_page_extra(policy))),
    )


@require_perm(Perm.VIEW)
def policy_history(request, pk: int):
    policy = _policy(pk)
    changes = policy.changes.select_related("changed_by")[:200]
    entries = [{"change": change, "lines": editor.change_lines(change)} for change in changes]
    return render(
        request,
        "policies/policy_history.html",
        _context(title=policy.name, tab="history", entries=entries, **_page_extra(policy)),
    )


@require_POST
@require_perm(Perm.OPERATE)
def policy_delete(request, pk: int):
    policy = get_object_or_404(Policy, pk=pk)
    services.policy_delete(policy=policy, by=request.user)
    messages.success(request, f"Policy {policy.name} was deleted. Its alerts stay.")
    return redirect("policies:list")


@require_POST
@require_perm(Perm.OPERATE)
def policy_preview_view(request):
    """Run the draft in the editor over stored activity: nothing is saved and no alert is raised."""
    form = PreviewForm(request.POST)
    if not form.is_valid():
        return render(request, "policies/_preview.html", {"form": form, "invalid": True})
    data = form.cleaned_data
    repeated = data["match_mode"] == Policy.MatchMode.REPEATED
    spec = PolicySpec(
        key="preview",
        name="Preview",
        filters=tuple(form.filters),
        match_mode=data["match_mode"],
        repeat_count=data.get("repeat_count") or 5,
        repeat_minutes=data.get("repeat_minutes") or 10,
        repeat_group_by=data.get("repeat_group_by") or "",
        scope_include=tuple(data["scope_include"]),
        scope_exclude=tuple(data["scope_exclude"]),
    )
    days = data.get("preview_days") or 7
    result = policy_preview(spec=spec, days=days)
    ids = [row["id"] for row in result["activities"]]
    found = Activity.objects.select_related("connector").in_bulk(ids)
    rows = [found[pk] for pk in ids if pk in found]
    return render(
        request,
        "policies/_preview.html",
        {
            "form": form,
            "result": result,
            "rows": rows,
            "days": days,
            "repeated": repeated,
            "limit": PREVIEW_ACTIVITIES,
            "since": timedelta(days=days),
        },
    )


@require_perm(Perm.VIEW)
def policy_export(request, pk: int):
    policy = get_object_or_404(Policy, pk=pk)
    slug = "".join(c if c.isalnum() else "-" for c in policy.name.lower()).strip("-") or f"policy-{pk}"
    response = HttpResponse(editor.policy_to_yaml(policy), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug[:80]}.yaml"'
    return response


@require_perm(Perm.OPERATE)
def policy_import(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > 1_000_000:
                raise editor.PolicyFileError("The file is larger than 1 MB: a policy file is a few KB.")
            text = upload.read().decode("utf-8")
            policy, created = editor.policy_import_yaml(text=text, by=request.user)
        except UnicodeDecodeError:
            form.add_error("file", "The file is not UTF-8 text.")
        except editor.PolicyFileError as error:
            form.add_error("file", str(error))
        except ValidationError as error:
            for field, problems in editor.validation_messages(error).items():
                for problem in problems:
                    form.add_error("file", f"{field}: {problem}" if field != "__all__" else problem)
        else:
            verb = "created" if created else "updated"
            messages.success(request, f"Policy {policy.name} was {verb} from {upload.name}.")
            return redirect("policies:detail", pk=policy.pk)
    return render(request, "policies/policy_import.html", _context(title="Import policy", form=form))
