"""Volume anomalies: how much of something a principal does within one hour, against a baseline of
hourly counts over the last 30 days and a floor (PRODUCT.md 6.2).

- ``anomaly_mass_vm_deletion``: instance IDs terminated (TerminateInstances).
- ``anomaly_mass_vm_creation``: instances launched (RunInstances).
- ``anomaly_mass_storage_deletion``: S3 deletions (DeleteObject(s), DeleteBucket, DeleteBucketPolicy...).
- ``anomaly_unusual_admin_activity``: administrative activities; besides, administrative event types
  the principal never used (see ``UnusualAdminActivity``).

The count is over a sliding hour of event time ending at each activity, de-duplicated by unit (an
instance terminated twice counts once). The usual count is the highest clock-hour count of the baseline
(the principal's own, or the whole environment's for VM deletion), hours of the current window left
out; activity that alerted is not learned. Threshold: ``max(floor, usual * factor + 1)``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from typing import Any, ClassVar

from policies.engine.detectors._common import (
    BASELINE_DAYS,
    DAY,
    HOUR,
    Episodes,
    clock,
    learning,
    learning_days,
    prune_keys,
    scaled,
    seconds,
    setting,
    when,
    who,
)
from policies.engine.detectors.registry import Detector, register_detector
from policies.engine.fields import ActivityLike, activity_ref
from policies.engine.findings import Finding

EC2_INSTANCE = "AWS::EC2::Instance"
# Recent units are kept this long, so events that arrive late (another region's trail) still count.
RECENT = 3 * HOUR
ENVIRONMENT = "*"


def _resource_names(a: ActivityLike, kind: str) -> list[str]:
    return [
        r["name"]
        for r in a.get("resources") or ()
        if isinstance(r, dict) and r.get("type") == kind and r.get("name")
    ]


class _HourlyVolume(Detector):
    """Base of the volume detectors: ``units(a)`` names what an activity adds to the count."""

    # Medium floor; low doubles it, high takes 60% (``_common.scaled``); setting "floor" overrides.
    floor: ClassVar[int] = 5
    # The count must exceed usual * factor: 1 for "above the baseline", more for "far above".
    factor: ClassVar[float] = 1.0
    # True: the usual count is the highest of any principal (the environment's baseline).
    environment_baseline: ClassVar[bool] = False
    what: ClassVar[str] = "activities"

    def units(self, a: ActivityLike) -> list[str]:
        raise NotImplementedError

    def observe(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        clock(state, activities)
        days = learning_days(self.settings)
        floor = scaled(setting(self.settings, "floor", self.floor), self.sensitivity, minimum=2)
        principals: dict[str, Any] = state.setdefault("principals", {})
        episodes = Episodes(state, gap=HOUR)
        found: dict[str, dict[str, Any]] = {}
        batch: dict[str, list[tuple[int, ActivityLike]]] = {}
        for a in activities:
            units = self.units(a)
            if not units:
                continue
            at = seconds(a["event_time"])
            principal = a.get("principal") or ""
            batch.setdefault(principal, []).append((at, a))
            entry = principals.setdefault(principal, {"hours": {}, "recent": []})
            for unit in units:
                insort(entry["recent"], [at, unit])
            recent = entry["recent"]
            window = recent[bisect_left(recent, [at - HOUR + 1]) : bisect_right(recent, [at, "\uffff"])]
            count = len({unit for _, unit in window})
            usual = self._usual(state, entry, at)
            threshold = max(floor, math.floor(usual * self.factor) + 1)
            group = f"principal:{principal}"
            open_episode = episodes.open.get(group)
            continuing = open_episode is not None and 0 <= at - open_episode[1] <= HOUR
            if learning(state, at, days) or (count < threshold and not continuing):
                self._learn(state, entry, at, len(units))
                continue
            key = episodes.key(group, at, activity_ref(a))
            hit = found.setdefault(key, {"group": group, "activities": {}, "count": 0, "usual": usual})
            # The activities of this batch that make up the window, not only the one that crossed it.
            for moment, other in batch[principal]:
                if at - HOUR < moment <= at:
                    hit["activities"][activity_ref(other)] = other
            hit["count"] = max(hit["count"], count)
            hit["threshold"] = threshold
            hit["units"] = sorted({unit for _, unit in window})
        self._prune(state)
        episodes.prune(state["last"])
        return [self._finding(key, hit) for key, hit in found.items()]

    def _usual(self, state: dict[str, Any], entry: dict[str, Any], at: int) -> int:
        before = (at - HOUR) // HOUR  # hours the current window touches are not the baseline
        hours = state.get("environment", {}) if self.environment_baseline else entry["hours"]
        return max((n for hour, n in hours.items() if int(hour) < before), default=0)

    def _learn(self, state: dict[str, Any], entry: dict[str, Any], at: int, added: int) -> None:
        hour = str(at // HOUR)
        entry["hours"][hour] = entry["hours"].get(hour, 0) + added
        if self.environment_baseline:
            environment = state.setdefault("environment", {})
            environment[hour] = max(environment.get(hour, 0), entry["hours"][hour])

    def _prune(self, state: dict[str, Any]) -> None:
        last = state["last"]
        oldest_hour = (last - BASELINE_DAYS * DAY) // HOUR
        principals = state["principals"]
        for principal in list(principals):
            entry = principals[principal]
            entry["recent"] = entry["recent"][bisect_left(entry["recent"], [last - RECENT]) :]
            prune_keys(entry["hours"], oldest_hour)
            if not entry["recent"] and not entry["hours"]:
                del principals[principal]
        prune_keys(state.get("environment", {}), oldest_hour)

    def _finding(self, key: str, hit: dict[str, Any]) -> Finding:
        activities = list(hit["activities"].values())
        first = activities[0]
        what = self.what[:1].upper() + self.what[1:]
        explanation = f"{what} in one hour: {hit['count']}, usual at most {hit['usual']}"
        baseline = "the environment's" if self.environment_baseline else f"{who(first)}'s"
        regions = sorted({a.get("region") or "" for a in activities} - {""})
        return self.finding(
            activities=activities,
            title=f"{self.policy.name}: {hit['count']} {self.what} by {who(first)} in one hour",
            description=(
                f"{explanation} ({baseline} busiest hour of the last 30 days; the policy alerts from "
                f"{hit['threshold']} at {self.sensitivity} sensitivity). {who(first)}, from "
                f"{when(seconds(first['event_time']))}"
                f"{' in ' + ', '.join(regions) if regions else ''}."
            ),
            evidence={
                "explanation": explanation,
                "count": hit["count"],
                "usual_max": hit["usual"],
                "threshold": hit["threshold"],
                "sensitivity": self.sensitivity,
                "units": hit["units"][:50],
                "regions": regions,
            },
            principal=first.get("principal") or "",
            group_key=hit["group"],
            key=f"{self.policy.id or self.policy.key}|{key}",
        )


@register_detector
class MassVmDeletion(_HourlyVolume):
    """Instance IDs terminated by a principal within one hour above the environment's busiest hour
    and a floor: 5 at medium, 10 at low, 3 at high."""

    key = "anomaly_mass_vm_deletion"
    label = "Multiple delete VM activities"
    floor = 5
    environment_baseline = True
    what = "VMs deleted"

    def units(self, a: ActivityLike) -> list[str]:
        if a.get("event_name") != "TerminateInstances" or a.get("succeeded") is False:
            return []
        return _resource_names(a, EC2_INSTANCE) or [f"call:{activity_ref(a)}"]


@register_detector
class MassVmCreation(_HourlyVolume):
    """Instances launched by a principal within one hour above its busiest hour and a floor: 10 at
    medium, 20 at low, 6 at high. Counts the instances RunInstances returned (failed launches add
    nothing: no instance ran)."""

    key = "anomaly_mass_vm_creation"
    label = "Multiple VM creation activities"
    floor = 10
    what = "VMs launched"

    def units(self, a: ActivityLike) -> list[str]:
        if a.get("event_name") != "RunInstances" or a.get("succeeded") is False:
            return []
        instances = _resource_names(a, EC2_INSTANCE)
        if instances:
            return instances
        # No instance listed (a trimmed record): the request's minimum count, else one.
        parameters = a.get("request_parameters") or {}
        wanted = parameters.get("minCount", 1) if isinstance(parameters, dict) else 1
        wanted = wanted if isinstance(wanted, int) and 0 < wanted <= 1000 else 1
        return [f"{activity_ref(a)}:{n}" for n in range(wanted)]


@register_detector
class MassStorageDeletion(_HourlyVolume):
    """S3 deletions (DeleteObject(s), DeleteBucket, DeleteBucketPolicy... successful or not: a failed
    wipe is still an attempt) by a principal within one hour above twice its busiest hour and a
    floor: 20 at medium, 40 at low, 12 at high. Each call counts once, or once per object it names."""

    key = "anomaly_mass_storage_deletion"
    label = "Unusual storage deletion activity"
    floor = 20
    factor = 2.0
    what = "S3 deletions"

    def units(self, a: ActivityLike) -> list[str]:
        if a.get("event_source") != "s3.amazonaws.com" or not (a.get("event_name") or "").startswith(
            "Delete"
        ):
            return []
        objects = _resource_names(a, "AWS::S3::Object")
        return objects or [f"call:{activity_ref(a)}"]


# New administrative event types (never used by the principal) that make an alert within one hour,
# by sensitivity: one or two types an administrator has not needed before is everyday work (a network
# change and its VPN, a new role policy); a run of them is the pattern of borrowed credentials
# (a key pair, a security group, instances, then stopping the trail...).
NEW_TYPES_IN_HOUR = {"low": 4, "medium": 3, "high": 1}
# ...and only types at most this many other principals of the organization used, by sensitivity: a
# type the whole team uses is a principal joining routine work.
NEW_TYPE_OTHERS = {"low": 0, "medium": 1, "high": 3}
# A principal's known event types are kept while it is active; one unseen this long starts over
# (learning again), which keeps the state bounded by the active principals.
NEW_TYPE_MEMORY_DAYS = 90


def admin_event_type(a: ActivityLike) -> str:
    """``iam:CreateUser``: the event name qualified by its service (CreateTags exists in many)."""
    source = a.get("event_source") or ""
    return f"{source.split('.', 1)[0]}:{a.get('event_name') or ''}"


@register_detector
class UnusualAdminActivity(_HourlyVolume):
    """Two anomalies of a principal's administrative activities:

    - volume: administrative activities within one hour above three times its busiest hour and a
      floor: 30 at medium, 60 at low, 18 at high;
    - new event types: administrative event types (``iam:CreateUser``) the principal never used,
      each used by at most ``NEW_TYPE_OTHERS`` other principals (0 at low, 1 at medium, 3 at high),
      ``NEW_TYPES_IN_HOUR`` of them within one hour (4 at low, 3 at medium, 1 at high). Learns for 7
      days from the organization's first activity and from the principal's own; every administrative
      call adds its type to the principal's set (failed attempts too). New types of the next 24
      hours join the alert.
    """

    key = "anomaly_unusual_admin_activity"
    label = "Unusual administrative activity"
    floor = 30
    factor = 3.0
    what = "administrative activities"

    def units(self, a: ActivityLike) -> list[str]:
        return [f"call:{activity_ref(a)}"] if a.get("administrative") else []

    def observe(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        findings = super().observe(activities, state)
        return findings + self._new_types(activities, state)

    def _new_types(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        days = learning_days(self.settings)
        # principal -> {"first", "last": event times, "types": {event type: first use},
        #               "recent": [[time, new event type, other principals using it]...]}
        principals: dict[str, Any] = state.setdefault("admin_types", {})
        episodes = Episodes(state, gap=DAY)  # groups of their own: volume episodes stay apart
        in_hour = NEW_TYPES_IN_HOUR[self.sensitivity]
        allowed_others = NEW_TYPE_OTHERS[self.sensitivity]
        found: dict[str, dict[str, Any]] = {}
        batch: dict[str, list[tuple[int, ActivityLike]]] = {}
        for a in activities:
            at = seconds(a["event_time"])
            principal = a.get("principal") or ""
            entry = principals.get(principal)
            if entry is None:
                entry = principals[principal] = {"first": at, "last": at, "types": {}, "recent": []}
            entry["first"], entry["last"] = min(entry["first"], at), max(entry["last"], at)
            if not a.get("administrative"):
                continue
            kind = admin_event_type(a)
            types = entry["types"]
            if kind in types:
                types[kind] = min(types[kind], at)
                continue
            types[kind] = at
            if learning(state, at, days) or learning(entry, at, days):
                continue
            others = sum(1 for p, e in principals.items() if p != principal and kind in e["types"])
            if others > allowed_others:
                continue
            insort(entry["recent"], [at, kind, others])
            batch.setdefault(principal, []).append((at, a))
            window = {k: n for t, k, n in entry["recent"] if at - HOUR < t <= at}
            group = f"principal:{principal}|new-admin-types"
            open_episode = episodes.open.get(group)
            continuing = open_episode is not None and 0 <= at - open_episode[1] <= DAY
            if len(window) < in_hour and not continuing:
                continue
            key = episodes.key(group, at, activity_ref(a))
            hit = found.get(key)
            if hit is None:
                known = [k for k in types if k != kind]
                hit = found[key] = {"group": group, "activities": {}, "new": {}, "known": known}
            for moment, other in batch[principal]:
                if at - HOUR < moment <= at or other is a:
                    hit["activities"][activity_ref(other)] = other
            hit["new"].update(window)
            hit["known"] = sorted(set(hit["known"]) - set(hit["new"]))
        last = state["last"]
        for principal in list(principals):
            entry = principals[principal]
            if entry["last"] < last - NEW_TYPE_MEMORY_DAYS * DAY:
                del principals[principal]
            else:
                entry["recent"] = [r for r in entry["recent"] if r[0] > last - RECENT]
        episodes.prune(last)
        return [self._new_types_finding(key, hit) for key, hit in found.items()]

    def _new_types_finding(self, key: str, hit: dict[str, Any]) -> Finding:
        activities = list(hit["activities"].values())
        first = activities[0]
        new, known = sorted(hit["new"]), hit["known"]
        shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        explanation = (
            f"administrative event types used by {who(first)} before: {len(known)}"
            f"{' (' + shown + ')' if known else ''} - new: {', '.join(new)}"
        )
        used_by = ", ".join(f"{kind} by {others}" for kind, others in sorted(hit["new"].items()))
        return self.finding(
            activities=activities,
            title=f"{self.policy.name}: {who(first)} calls {', '.join(new[:3])}"
            f"{f' and {len(new) - 3} more' if len(new) > 3 else ''} for the first time",
            description=(
                f"{explanation}. Other principals of the organization that used them: {used_by} (at "
                f"{self.sensitivity} sensitivity the policy alerts on {NEW_TYPES_IN_HOUR[self.sensitivity]} "
                f"or more new types within one hour, each used by at most "
                f"{NEW_TYPE_OTHERS[self.sensitivity]} others). {len(activities)} activities from "
                f"{when(seconds(first['event_time']))}."
            ),
            evidence={
                "explanation": explanation,
                "new_event_types": new,
                "known_event_types": known[:100],
                "known_count": len(known),
                "other_principals": hit["new"],
                "sensitivity": self.sensitivity,
            },
            principal=first.get("principal") or "",
            group_key=hit["group"],
            key=f"{self.policy.id or self.policy.key}|{key}",
        )
