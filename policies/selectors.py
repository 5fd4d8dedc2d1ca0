"""Reads over policies and the activity they match."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from connectors.models import Activity
from policies.detection import activity_rows
from policies.engine import PolicySpec, compile_policy
from policies.engine.evaluate import bursts, group_value
from policies.engine.spec import GROUP_IP, GROUP_PRINCIPAL
from policies.queries import filters_q, scope_q

PREVIEW_ACTIVITIES = 50
# Rows examined at most when the filters cannot be counted by the database alone.
PREVIEW_SCAN_LIMIT = 200_000
PREVIEW_FIELDS = ("id", "event_time", "event_name", "principal_name", "source_ip")


def policy_preview(*, spec: PolicySpec, days: int, now: datetime | None = None) -> dict[str, Any]:
    """What a draft policy would have matched in the last ``days`` days of stored activity, without
    raising anything: ``count`` of matching activities, ``alerts`` it would have raised (repeated
    activity: one per burst; no daily limit), the newest ``activities`` (at most 50), and whether the
    count is ``complete`` (False when more than PREVIEW_SCAN_LIMIT rows had to be examined)."""
    spec = dataclasses.replace(spec, active_since=None)
    compiled = compile_policy(spec)
    since = (now or timezone.now()) - timedelta(days=days)
    condition, exact = filters_q(compiled.conditions)
    scope, scope_exact = scope_q(spec.scope_include, spec.scope_exclude)
    queryset = Activity.objects.filter(event_time__gte=since).filter(condition & scope)
    newest = queryset.order_by("-event_time", "-id")
    if exact and scope_exact and not spec.repeated:
        count = newest.count()
        rows = list(newest.values(*PREVIEW_FIELDS)[:PREVIEW_ACTIVITIES])
        return {"count": count, "alerts": count, "activities": rows, "complete": True}

    matched: list[dict[str, Any]] = []
    complete = True
    for scanned, row in enumerate(activity_rows(newest), start=1):
        if scanned > PREVIEW_SCAN_LIMIT:
            complete = False
            break
        if compiled.matches(row):
            matched.append(row)
    alerts = len(matched)
    if spec.repeated:
        group_by = spec.repeat_group_by if spec.repeat_group_by in (GROUP_PRINCIPAL, GROUP_IP) else ""
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in reversed(matched):  # oldest first
            groups[group_value(row, group_by)].append(row)
        alerts = sum(len(bursts(rows, spec.repeat_count, spec.window)) for rows in groups.values())
    rows = [{key: row[key] for key in PREVIEW_FIELDS} for row in matched[:PREVIEW_ACTIVITIES]]
    return {"count": len(matched), "alerts": alerts, "activities": rows, "complete": complete}
