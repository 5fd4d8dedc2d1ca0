"""Writes to policies: every save goes through ``policy_save`` (change history, active_since)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from defender.audit import AuditAction, audit_record
from policies.builtin import install_builtin_policies
from policies.engine.filters import FilterError, normalize_filters
from policies.models import Policy, PolicyChange
from policies.templates.registry import get_template

# What a person edits (and the change history records).
EDITABLE_FIELDS = (
    "name",
    "description",
    "type",
    "template_key",
    "enabled",
    "severity",
    "category",
    "mitre_tactic",
    "mitre_technique",
    "scope_include",
    "scope_exclude",
    "filters",
    "match_mode",
    "repeat_count",
    "repeat_minutes",
    "repeat_group_by",
    "settings",
    "create_alert",
    "daily_alert_limit",
    "email_recipients",
    "webhook_url",
    "governance_actions",
    "governance_automatic",
)
# A change to any of these decides anew what matches: only activities arriving from now on alert.
MATCHING_FIELDS = frozenset(
    {
        "type",
        "filters",
        "scope_include",
        "scope_exclude",
        "match_mode",
        "repeat_count",
        "repeat_minutes",
        "repeat_group_by",
        "settings",
    }
)


def policy_save(*, policy: Policy | None, data: dict[str, Any], by=None) -> Policy:
    """Create (``policy=None``) or change a policy from ``data`` (any of EDITABLE_FIELDS).

    A new policy with a ``template_key`` starts from that template's settings, ``data`` overriding.
    Filters are validated and stored normalized. Every save that changes something records a
    PolicyChange ``{field: [old, new]}``; creating the policy, enabling it or changing what it
    matches (filters, scope, match mode and window, type, settings) moves ``active_since`` to now,
    so only activities that arrive afterwards raise alerts. Raises ``ValidationError``.
    """
    unknown = sorted(set(data) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in unknown})
    creating = policy is None
    if creating:
        values: dict[str, Any] = {}
        template_key = data.get("template_key") or ""
        if template_key:
            template = get_template(template_key)
            if template is None:
                raise ValidationError({"template_key": f"Unknown template '{template_key}'."})
            values.update(template.policy_fields())
        values.update(data)
        policy = Policy(created_by=by)
        before = {}
    else:
        values = dict(data)
        before = {name: getattr(policy, name) for name in EDITABLE_FIELDS}

    if "filters" in values:
        try:
            values["filters"] = normalize_filters(values["filters"])
        except FilterError as error:
            raise ValidationError({"filters": error.described}) from None
    for name, value in values.items():
        setattr(policy, name, value)
    if policy.template_key and get_template(policy.template_key) is None:
        raise ValidationError({"template_key": f"Unknown template '{policy.template_key}'."})
    if policy.match_mode != Policy.MatchMode.SINGLE and policy.repeat_count < 2:
        raise ValidationError({"repeat_count": "Repeated activity needs at least 2 activities."})
    policy.full_clean(exclude=["created_by", "modified_by"])

    after = {name: getattr(policy, name) for name in EDITABLE_FIELDS}
    changes = {
        name: [before.get(name), after[name]]
        for name in EDITABLE_FIELDS
        if creating or before[name] != after[name]
    }
    if not creating and not changes:
        return policy
    now = timezone.now()
    if creating or MATCHING_FIELDS & set(changes) or ("enabled" in changes and policy.enabled):
        policy.active_since = now
    policy.modified_by = by
    with transaction.atomic():
        policy.save()
        PolicyChange.objects.create(
            policy=policy,
            action=PolicyChange.Action.CREATED if creating else PolicyChange.Action.UPDATED,
            changed_by=by,
            changed_at=now,
            changes=changes,
        )
        audit_record(
            action=_audit_action(creating, changes, policy),
            target=policy,
            actor=by,
            details={"changed": sorted(changes)},
        )
    return policy


def _audit_action(creating: bool, changes: dict[str, Any], policy: Policy) -> str:
    if creating:
        return AuditAction.POLICY_CREATE
    if set(changes) == {"enabled"}:
        return AuditAction.POLICY_ENABLE if policy.enabled else AuditAction.POLICY_DISABLE
    return AuditAction.POLICY_UPDATE


def policy_set_enabled(*, policy: Policy, enabled: bool, by=None) -> Policy:
    return policy_save(policy=policy, data={"enabled": enabled}, by=by)


def policy_delete(*, policy: Policy, by=None) -> None:
    """Delete a policy; its alerts stay (they keep their title and evidence)."""
    audit_record(action=AuditAction.POLICY_DELETE, target=policy, actor=by)
    policy.delete()


def policy_record_suppressed(*, policy: Policy, count: int, day: date) -> None:
    """Count findings the daily alert limit dropped on ``day`` (server time zone)."""
    if count <= 0:
        return
    Policy.objects.filter(pk=policy.pk).update(
        suppressed_today=Case(
            When(suppressed_on=day, then=F("suppressed_today") + count), default=Value(count)
        ),
        suppressed_on=day,
    )


def policies_install_builtin() -> int:
    """Create the built-in policies missing from the database (see ``policies.builtin``)."""
    return install_builtin_policies(Policy)
