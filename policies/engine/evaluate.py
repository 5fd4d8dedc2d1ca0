"""The detection engine: a batch of activities and the policies in force -> findings. Pure.

``evaluate_batch`` serves the worker (activities just stored, history from the database) and
``scan_cloudtrail`` (activities of log files, history in memory) alike.

- Single activity policies: one finding per matching activity.
- Repeated activity policies (at least N matches within M minutes, optionally per principal or per
  IP): for each group the batch touches, the engine asks the ``HistoryProvider`` for the stored
  activities of that group around the batch's times, keeps those the policy matches, and finds
  every window [t - M, t] holding N or more. Overlapping windows, and windows that follow one another
  within M, form one burst and one finding; only bursts holding an activity of this batch are
  reported (older bursts were reported when their own activities arrived). Because the windows are
  computed from stored history, they are right across batch boundaries and with late events.
- Anomaly policies: the registered detector of the policy's template key observes the batch's
  in-scope activities with its persisted state; policies without a detector (and file policies)
  are skipped.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, MutableMapping, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any, Protocol

from policies.engine.detectors.registry import get_detector
from policies.engine.fields import ActivityLike, activity_ref, as_activity, ip_or_source, time_order
from policies.engine.findings import MAX_FINDING_ACTIVITIES, Finding, iso
from policies.engine.spec import (
    GROUP_IP,
    GROUP_PRINCIPAL,
    TYPE_ACTIVITY,
    TYPE_ANOMALY,
    CompiledPolicy,
    GroupsOf,
    PolicySpec,
    compile_policy,
)


class HistoryProvider(Protocol):
    """Stored activities for repeated-activity windows."""

    def window(
        self,
        policy: CompiledPolicy,
        *,
        group_by: str,
        groups: Collection[str],
        start: datetime,
        end: datetime,
    ) -> Iterable[ActivityLike]:
        """Activities with ``start <= event_time <= end`` whose group value (principal key for
        "principal", ``ip_or_source`` for "ip", anything for "") is in ``groups``. It may return more
        (the engine applies the policy again) and may or may not include the batch itself."""
        ...


class NoHistory:
    """Windows see the batch only."""

    def window(self, policy, *, group_by, groups, start, end) -> list[ActivityLike]:
        return []


class MemoryHistory:
    """History held in memory (``scan_cloudtrail``, tests): activities indexed by group and time."""

    def __init__(self, activities: Iterable[ActivityLike] = ()):
        self._by: dict[str, dict[str, list[ActivityLike]]] = {"": {"": []}, GROUP_PRINCIPAL: {}, GROUP_IP: {}}
        self._times: dict[tuple[str, str], list[datetime]] | None = None
        self.extend(activities)

    def extend(self, activities: Iterable[ActivityLike]) -> None:
        every = self._by[""][""]
        principals, ips = self._by[GROUP_PRINCIPAL], self._by[GROUP_IP]
        for a in activities:
            a = as_activity(a)
            every.append(a)
            principals.setdefault(group_value(a, GROUP_PRINCIPAL), []).append(a)
            ips.setdefault(group_value(a, GROUP_IP), []).append(a)
        self._times = None

    def _sorted(self) -> dict[tuple[str, str], list[datetime]]:
        if self._times is None:
            self._times = {}
            for group_by, groups in self._by.items():
                for value, items in groups.items():
                    items.sort(key=_time_key)
                    self._times[group_by, value] = [a["event_time"] for a in items]
        return self._times

    def window(self, policy, *, group_by, groups, start, end) -> list[ActivityLike]:
        times = self._sorted()
        found: list[ActivityLike] = []
        for value in [""] if not group_by else groups:
            items = self._by[group_by].get(value)
            if not items:
                continue
            moments = times[group_by, value]
            found.extend(items[bisect_left(moments, start) : bisect_right(moments, end)])
        return found


def group_value(activity: ActivityLike, group_by: str) -> str:
    if group_by == GROUP_PRINCIPAL:
        return activity.get("principal") or ""
    if group_by == GROUP_IP:
        return ip_or_source(activity)
    return ""


def _time_key(activity: ActivityLike) -> tuple[datetime, int, str]:
    return time_order(activity)


# --------------------------------------------------------------------------------------------------


def evaluate_batch(
    policies: Iterable[PolicySpec | CompiledPolicy],
    activities: Iterable[Any],
    *,
    history: HistoryProvider | None = None,
    states: MutableMapping[str, dict] | None = None,
    groups_of: GroupsOf | None = None,
    context: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Findings of ``policies`` (specs are compiled here; pass ``CompiledPolicy``s to compile once)
    over one batch of ``activities`` (mappings, or objects ``as_activity`` reads), sorted by first
    activity. ``history`` answers repeated-activity windows (default: the batch alone); ``states``
    holds each anomaly detector's state by policy key (default: fresh, empty)."""
    compiled = [
        p if isinstance(p, CompiledPolicy) else compile_policy(p, groups_of=groups_of) for p in policies
    ]
    # (type() first: the Mapping check is an ABC lookup, and batches are plain dicts but for tests)
    batch = [a if type(a) is dict or isinstance(a, Mapping) else as_activity(a) for a in activities]
    findings: list[Finding] = []

    activity_policies = [c for c in compiled if c.spec.type == TYPE_ACTIVITY]
    history = history or NoHistory()
    for policy, matched in zip(activity_policies, match_batch(activity_policies, batch), strict=True):
        if not matched:
            continue
        if policy.spec.repeated:
            findings.extend(_repeated(policy, matched, history))
        else:
            findings.extend(single_finding(policy.spec, a) for a in matched)

    in_time_order: list[ActivityLike] | None = None
    for policy in compiled:
        if policy.spec.type != TYPE_ANOMALY:
            continue
        detector = get_detector(policy.spec.template_key or policy.spec.key)
        if detector is None:
            continue
        if in_time_order is None:
            in_time_order = batch if _in_time_order(batch) else sorted(batch, key=_time_key)
        selects = policy.selects
        selected = [a for a in in_time_order if selects(a)]
        if not selected:
            continue
        state = states.setdefault(policy.spec.key, {}) if states is not None else {}
        found = detector(policy.spec, context).observe(selected, state)
        if found and policy.spec.active_since is not None:
            fresh = {activity_ref(a) for a in selected if policy.matches(a)}
            found = [f for f in found if _any_fresh(f, fresh)]
        findings.extend(found)

    findings.sort(key=lambda f: (f.first_seen, f.policy_key, f.key))
    return findings


def _in_time_order(batch: Sequence[ActivityLike]) -> bool:
    """Whether ``batch`` is already sorted by ``time_order`` (as the database returns it): a check
    far cheaper than sorting, as ties of event time are the only pairs that need the full key."""
    for previous, current in pairwise(batch):
        before, after = previous["event_time"], current["event_time"]
        if before < after:
            continue
        if before > after:
            return False
        first, second = previous.get("id"), current.get("id")
        if first is not None and second is not None:
            if first > second:
                return False
        elif time_order(previous) > time_order(current):
            return False
    return True


def _any_fresh(finding: Finding, fresh: set) -> bool:
    refs = finding.activity_ids or finding.event_ids
    return any(ref in fresh for ref in refs)


def match_batch(
    policies: Sequence[CompiledPolicy], batch: Sequence[ActivityLike]
) -> list[list[ActivityLike]]:
    """For each policy, the activities of the batch it matches (filters, scope, active_since).

    Policies whose filters pin the event source and event name are indexed by that pair, so an
    activity is only tested against the few policies that can match it.
    """
    indexed: dict[tuple[str, str], list[tuple[int, Any]]] = defaultdict(list)
    unindexed: list[tuple[int, Any]] = []
    for position, policy in enumerate(policies):
        if policy.events is None:
            unindexed.append((position, policy.matches))
        else:
            for event in policy.events:
                indexed[event].append((position, policy.matches))
    results: list[list[ActivityLike]] = [[] for _ in policies]
    lookup = indexed.get
    nothing: tuple = ()
    for a in batch:
        for position, matches in lookup((a.get("event_source"), a.get("event_name")), nothing):
            if matches(a):
                results[position].append(a)
        for position, matches in unindexed:
            if matches(a):
                results[position].append(a)
    return results


# --------------------------------------------------------------------------------------------------
# Single activity


def single_finding(spec: PolicySpec, a: ActivityLike) -> Finding:
    who = _who(a)
    failed = a.get("succeeded") is False
    title = f"{spec.name}: {a.get('event_name', '')} by {who}" + (" (failed)" if failed else "")
    ip = ip_or_source(a)
    return Finding(
        policy_key=spec.key,
        policy_id=spec.id,
        title=title,
        severity=spec.severity,
        principal=a.get("principal") or "",
        principal_name=a.get("principal_name") or "",
        description=describe(a),
        first_seen=a["event_time"],
        last_seen=a["event_time"],
        key=f"{spec.id or spec.key}|{activity_ref(a)}",
        activity_ids=(a["id"],) if a.get("id") is not None else (),
        event_ids=(a.get("event_id") or "",),
        activity_count=1,
        evidence=activity_evidence(a),
        connector_id=a.get("connector_id"),
        ips=(ip,) if ip else (),
        countries=(a["country"],) if a.get("country") else (),
    )


def _who(a: ActivityLike) -> str:
    return a.get("principal_name") or a.get("principal") or "an unknown principal"


def describe(a: ActivityLike) -> str:
    """One sentence on one activity, as an analyst reads it in an alert."""
    who = _who(a)
    where = ip_or_source(a) or "an unknown address"
    if a.get("country"):
        where += f" ({a['country']})"
    region = f" in {a['region']}" if a.get("region") else ""
    if a.get("event_name") == "ConsoleLogin":
        if a.get("succeeded") is False:
            reason = f": {a['error_message']}" if a.get("error_message") else ""
            return f"{who} failed to sign in to the AWS console from {where}{reason}."
        return f"{who} signed in to the AWS console from {where}."
    text = f"{who} called {a.get('event_name', '')} ({a.get('event_source', '')}){region} from {where}."
    if a.get("succeeded") is False:
        code = a.get("error_code") or "an error"
        message = f": {a['error_message']}" if a.get("error_message") else ""
        text += f" The call failed with {code}{message}."
    return text


def activity_evidence(a: ActivityLike) -> dict[str, Any]:
    resources = [r.get("name") for r in a.get("resources") or () if isinstance(r, dict) and r.get("name")]
    return {
        "event_name": a.get("event_name", ""),
        "event_source": a.get("event_source", ""),
        "event_time": iso(a["event_time"]),
        "region": a.get("region", ""),
        "source_ip": a.get("source_ip", ""),
        "country": a.get("country", "") or "",
        "ip_category": a.get("ip_category", "") or "",
        "ip_tags": list(a.get("ip_tags") or ()),
        "succeeded": a.get("succeeded", True),
        "error_code": a.get("error_code", "") or "",
        "error_message": (a.get("error_message") or "")[:500],
        "user_agent": (a.get("user_agent") or "")[:300],
        "resources": resources[:20],
    }


# --------------------------------------------------------------------------------------------------
# Repeated activity


def _repeated(policy: CompiledPolicy, matched: list[ActivityLike], history: HistoryProvider) -> list[Finding]:
    spec = policy.spec
    group_by = spec.repeat_group_by if spec.repeat_group_by in (GROUP_PRINCIPAL, GROUP_IP) else ""
    window = spec.window
    new_by_group: dict[str, list[ActivityLike]] = defaultdict(list)
    for a in matched:
        new_by_group[group_value(a, group_by)].append(a)
    start = min(a["event_time"] for a in matched) - window
    end = max(a["event_time"] for a in matched) + window

    pools: dict[str, dict[Any, ActivityLike]] = {group: {} for group in new_by_group}
    for a in history.window(policy, group_by=group_by, groups=set(new_by_group), start=start, end=end):
        a = a if isinstance(a, Mapping) else as_activity(a)
        pool = pools.get(group_value(a, group_by))
        if pool is not None and start <= a["event_time"] <= end and policy.matches(a):
            pool[activity_ref(a)] = a
    findings = []
    for group, new in new_by_group.items():
        pool = pools[group]
        for a in new:
            pool.setdefault(activity_ref(a), a)
        fresh = {activity_ref(a) for a in new}
        ordered = sorted(pool.values(), key=_time_key)
        for burst in bursts(ordered, spec.repeat_count, window):
            if any(activity_ref(a) in fresh for a in burst):
                findings.append(_burst_finding(spec, group_by, group, burst, fresh))
    return findings


def bursts(ordered: Sequence[ActivityLike], count: int, window) -> list[Sequence[ActivityLike]]:
    """Runs of activities (sorted by time) where some window [t - window, t] holds ``count`` or more;
    firing windows that overlap or follow each other within ``window`` are one run."""
    times = [a["event_time"] for a in ordered]
    runs: list[list[int]] = []
    low = 0
    for high in range(len(ordered)):
        while times[high] - times[low] > window:
            low += 1
        if high - low + 1 >= count:
            if runs and (low <= runs[-1][1] or times[low] - times[runs[-1][1]] <= window):
                runs[-1][1] = high
            else:
                runs.append([low, high])
    return [ordered[first : last + 1] for first, last in runs]


def _burst_finding(
    spec: PolicySpec, group_by: str, group: str, burst: Sequence[ActivityLike], fresh: set
) -> Finding:
    first, last = burst[0], burst[-1]
    principals = Counter(a.get("principal") or "" for a in burst)
    principal = group if group_by == GROUP_PRINCIPAL else principals.most_common(1)[0][0]
    named = next((a for a in burst if (a.get("principal") or "") == principal), first)
    who = named.get("principal_name") or principal or "an unknown principal"
    count = len(burst)
    failed = sum(1 for a in burst if a.get("succeeded") is False)
    if group_by == GROUP_PRINCIPAL:
        title = f"{spec.name}: {count} activities by {who}"
    elif group_by == GROUP_IP:
        title = f"{spec.name}: {count} activities from {group or 'an unknown address'}"
    else:
        title = f"{spec.name}: {count} activities"
    title += f" within {_span(first['event_time'], last['event_time'])}"
    grouping = {GROUP_PRINCIPAL: " by the same principal", GROUP_IP: " from the same IP address"}
    description = (
        f"{count} matching activities between {iso(first['event_time'])} and {iso(last['event_time'])}"
        f"{' (' + str(failed) + ' failed)' if failed else ''}; the policy alerts on {spec.repeat_count} or "
        f"more within {spec.repeat_minutes} minutes{grouping.get(group_by, '')}."
    )
    kept = linked_activities(burst, fresh)
    group_key = f"{group_by}:{group}" if group_by else ""
    ips = tuple(dict.fromkeys(ip for a in burst if (ip := ip_or_source(a))))
    return Finding(
        policy_key=spec.key,
        policy_id=spec.id,
        title=title,
        severity=spec.severity,
        principal=principal,
        principal_name=named.get("principal_name") or "",
        description=description,
        first_seen=first["event_time"],
        last_seen=last["event_time"],
        key=f"{spec.id or spec.key}|{group_key}|{activity_ref(first)}",
        activity_ids=tuple(a["id"] for a in kept if a.get("id") is not None),
        event_ids=tuple(a.get("event_id") or "" for a in burst),
        activity_count=count,
        evidence={
            "count": count,
            "failed": failed,
            "threshold": spec.repeat_count,
            "window_minutes": spec.repeat_minutes,
            "group_by": group_by,
            "group": group,
            "event_names": dict(Counter(a.get("event_name", "") for a in burst).most_common(10)),
            "principals": [p for p, _ in principals.most_common(10)],
            "ips": list(ips[:10]),
        },
        group_key=group_key,
        connector_id=first.get("connector_id"),
        continues_within=spec.window,
        ips=ips[:50],
        countries=tuple(dict.fromkeys(c for a in burst if (c := a.get("country")))),
    )


def linked_activities(activities: Sequence[ActivityLike], fresh: Collection = ()) -> list[ActivityLike]:
    """At most MAX_FINDING_ACTIVITIES of a long run, in time order, those of the current batch
    (``fresh`` refs) first: a long burst keeps linking what each batch adds to its alert."""
    if len(activities) <= MAX_FINDING_ACTIVITIES:
        return list(activities)
    new = [a for a in activities if activity_ref(a) in fresh][:MAX_FINDING_ACTIVITIES]
    room = MAX_FINDING_ACTIVITIES - len(new)
    old = [a for a in activities if activity_ref(a) not in fresh][:room] if room else []
    return sorted([*new, *old], key=_time_key)


def _span(first: datetime, last: datetime) -> str:
    seconds = int((last - first).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} seconds"
    minutes = round(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
