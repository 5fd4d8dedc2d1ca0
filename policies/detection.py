"""Detection over stored activity: the engine fed from the database.

``detect(activity_ids=...)`` loads those activities and the enabled policies, runs
``evaluate_batch`` with the database as history, and returns findings. It knows nothing of alerts:
the alerts app's detect task turns the findings into alerts (STYLE.md: the flow goes one way).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import F, Q, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from connectors.directory import directory_snapshot
from connectors.models import Activity
from policies.engine import Finding, PolicySpec, compile_policy, evaluate_batch
from policies.engine.detectors.registry import get_detector
from policies.engine.fields import ACTIVITY_KEYS
from policies.engine.spec import GROUP_IP, GROUP_PRINCIPAL, CompiledPolicy
from policies.models import DetectorState, Policy
from policies.queries import filters_q

# The columns the engine reads (no raw event, no request parameters: detection never needs them).
ACTIVITY_COLUMNS = tuple(key for key in ACTIVITY_KEYS if key != "connector")
# JSON columns come as text and are parsed with orjson: Django's json.loads of two columns per row
# was a tenth of detection's time.
JSON_COLUMNS = ("resources", "ip_tags")
_PLAIN_COLUMNS = tuple(key for key in ACTIVITY_COLUMNS if key not in JSON_COLUMNS)
_AS_TEXT = {f"{key}_text": Cast(key, TextField()) for key in JSON_COLUMNS}


def activity_rows(queryset) -> Iterable[dict[str, Any]]:
    """``queryset`` (of Activity) as the mappings the engine reads."""
    loads = orjson.loads
    for row in queryset.values(*_PLAIN_COLUMNS, connector_name=F("connector__name"), **_AS_TEXT):
        row["connector"] = row.pop("connector_name")
        for key in JSON_COLUMNS:
            text = row.pop(f"{key}_text")
            row[key] = None if text is None else loads(text)
        yield row


def load_activities(activity_ids: Collection[int]) -> list[dict[str, Any]]:
    ids: Any = list(activity_ids)
    if connection.vendor == "postgresql":
        # One array parameter: a batch of thousands bound as as many placeholders costs more to build,
        # send and plan than the rows take to read. (SQLite, the embedded default, has no arrays.)
        ids = RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    queryset = Activity.objects.filter(pk__in=ids).order_by("event_time", "pk")
    return list(activity_rows(queryset))


def spec_of(policy: Policy) -> PolicySpec:
    return PolicySpec(
        key=policy.template_key or f"policy:{policy.pk}",
        id=policy.pk,
        template_key=policy.template_key,
        name=policy.name,
        severity=policy.severity,
        type=policy.type,
        filters=tuple(policy.filters or ()),
        match_mode=policy.match_mode,
        repeat_count=policy.repeat_count,
        repeat_minutes=policy.repeat_minutes,
        repeat_group_by=policy.repeat_group_by,
        scope_include=tuple(policy.scope_include or ()),
        scope_exclude=tuple(policy.scope_exclude or ()),
        active_since=policy.active_since,
        settings=dict(policy.settings or {}),
        description=policy.description,
        category=policy.category,
        mitre_tactic=policy.mitre_tactic,
        mitre_technique=policy.mitre_technique,
    )


class DbHistory:
    """Repeated-activity windows from connectors.Activity, through the (principal, time) and
    (ip_address, time) indexes, narrowed by the policy's filters where they translate to SQL."""

    def window(
        self,
        policy: CompiledPolicy,
        *,
        group_by: str,
        groups: Collection[str],
        start: datetime,
        end: datetime,
    ) -> list[dict[str, Any]]:
        queryset = Activity.objects.filter(event_time__gte=start, event_time__lte=end)
        if group_by == GROUP_PRINCIPAL:
            queryset = queryset.filter(principal__in=list(groups))
        elif group_by == GROUP_IP:
            addresses = [g for g in groups if _is_ip(g)]
            others = [g for g in groups if g and not _is_ip(g)]
            queryset = queryset.filter(
                Q(ip_address__in=addresses) | Q(ip_address__isnull=True, source_ip__in=others)
            )
        condition, _ = filters_q(policy.conditions)
        if policy.spec.active_since is not None:
            condition &= Q(ingested_at__gte=policy.spec.active_since)
        return list(activity_rows(queryset.filter(condition)))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def detection_policies() -> list[Policy]:
    """Enabled policies the engine runs on activity: activity policies, and anomaly policies whose
    detector is registered."""
    policies = Policy.objects.filter(enabled=True, type__in=[Policy.Type.ACTIVITY, Policy.Type.ANOMALY])
    return [
        p for p in policies.order_by("pk") if p.type == Policy.Type.ACTIVITY or get_detector(p.template_key)
    ]


def detect(*, activity_ids: Collection[int]) -> list[Finding]:
    """Findings of every enabled policy over the stored activities ``activity_ids``. Anomaly detector
    state is read and written here (one row per policy, locked while its detector runs)."""
    activities = load_activities(activity_ids)
    if not activities:
        return []
    policies = detection_policies()
    compiled = [compile_policy(spec_of(p)) for p in policies]
    activity_policies = [c for c in compiled if c.spec.type == Policy.Type.ACTIVITY]
    findings = evaluate_batch(activity_policies, activities, history=DbHistory())
    anomaly = [(p, c) for p, c in zip(policies, compiled, strict=True) if c.spec.type == Policy.Type.ANOMALY]
    if anomaly:
        # One query makes every missing state row, instead of a get_or_create per policy and batch.
        DetectorState.objects.bulk_create(
            [DetectorState(policy=policy) for policy, _ in anomaly], ignore_conflicts=True
        )
        context = {"directory": directory_snapshot()}
        for policy, compiled_policy in anomaly:
            findings.extend(_run_detector(policy, compiled_policy, activities, context))
    findings.sort(key=lambda f: (f.first_seen, f.policy_key, f.key))
    return findings


def _run_detector(
    policy: Policy, compiled: CompiledPolicy, activities: list[dict], context: dict
) -> list[Finding]:
    """One detector under its own row lock: workers detecting other batches run the other
    detectors meanwhile, and each state sees every batch in turn."""
    with transaction.atomic():
        state = (
            DetectorState.objects.select_for_update().filter(policy=policy).values_list("state", flat=True)[0]
        )
        states = {compiled.spec.key: state}
        found = evaluate_batch([compiled], activities, states=states, context=context)
        DetectorState.objects.filter(policy=policy).update(state=states[compiled.spec.key])
    return found
