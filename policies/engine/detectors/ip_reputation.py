"""``anomaly_anonymous_ip`` and ``anomaly_suspicious_ip``: activity from addresses IP intelligence tags
(PRODUCT.md 6.2 and 10). The tags come from the threat feeds at ingest (``defender.ipintel.tags``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from defender.ipintel.tags import ANONYMIZER_TAGS, CATEGORY_CORPORATE, CATEGORY_RISKY, SUSPICIOUS_TAGS
from policies.engine.detectors._common import (
    BASELINE_DAYS,
    DAY,
    Episodes,
    clock,
    learning,
    learning_days,
    seconds,
    when,
    who,
)
from policies.engine.detectors.registry import Detector, register_detector
from policies.engine.fields import ActivityLike, activity_ref, ip_or_source
from policies.engine.findings import Finding

# Addresses in these ranges are the organization's own: never anonymous (anomaly_anonymous_ip).
OWN_CATEGORIES = frozenset({CATEGORY_CORPORATE, "vpn"})
# anomaly_anonymous_ip ignores an anonymizer address this many principals use routinely (each on at
# least ROUTINE_DAYS distinct days of the last 30), by sensitivity; high never ignores one.
ROUTINE_PRINCIPALS = {"low": 3, "medium": 5, "high": None}
ROUTINE_DAYS = 2
# An episode (one alert) goes on while the principal keeps using such addresses within a day.
EPISODE_GAP = DAY


class _TaggedIp(Detector):
    """Alerts on activities ``_reason`` names, once per principal while it goes on; learns for 7 days
    of event time from the first activity seen (organization-wide)."""

    def _reason(self, a: ActivityLike, state: dict[str, Any], at: int) -> list[str] | None:
        raise NotImplementedError

    def observe(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        clock(state, activities)
        days = learning_days(self.settings)
        episodes = Episodes(state, gap=EPISODE_GAP)
        found: dict[str, dict[str, Any]] = {}
        for a in activities:
            at = seconds(a["event_time"])
            tags = self._reason(a, state, at)
            if tags is None or learning(state, at, days):
                continue
            group = f"principal:{a.get('principal') or ''}"
            key = episodes.key(group, at, activity_ref(a))
            hit = found.setdefault(key, {"group": group, "activities": [], "tags": {}})
            hit["activities"].append(a)
            hit["tags"].setdefault(ip_or_source(a), tags)
        episodes.prune(state["last"])
        self._prune(state)
        return [self._finding(key, hit) for key, hit in found.items()]

    def _prune(self, state: dict[str, Any]) -> None:
        pass

    def _finding(self, key: str, hit: dict[str, Any]) -> Finding:
        activities = hit["activities"]
        first = activities[0]
        addresses = ", ".join(f"{ip} ({', '.join(tags)})" for ip, tags in list(hit["tags"].items())[:10])
        failed = sum(1 for a in activities if a.get("succeeded") is False)
        names = sorted({a.get("event_name", "") for a in activities})
        explanation = (
            f"{len(activities)} activities of {who(first)} from {addresses}"
            f"{f' ({failed} failed)' if failed else ''}, first at {when(seconds(first['event_time']))}"
        )
        return self.finding(
            activities=activities,
            title=f"{self.policy.name}: {who(first)} from {next(iter(hit['tags']))}",
            description=f"{explanation}. Events: {', '.join(names[:10])}.",
            evidence={
                "explanation": explanation,
                "ips": {ip: tags for ip, tags in list(hit["tags"].items())[:20]},
                "count": len(activities),
                "failed": failed,
                "event_names": names[:20],
                "sensitivity": self.sensitivity,
            },
            principal=first.get("principal") or "",
            group_key=hit["group"],
            key=f"{self.policy.id or self.policy.key}|{key}",
        )


@register_detector
class AnonymousIp(_TaggedIp):
    """Activity from an address tagged Tor exit node, anonymous proxy or anonymizing VPN, outside the
    organization's Corporate/VPN ranges. At low and medium sensitivity an address that several
    principals use routinely (``ROUTINE_PRINCIPALS``: 3 at low, 5 at medium, each on 2+ days of the
    last 30) is the organization's own habit and is ignored; state keeps, per anonymizer address, the
    days each principal used it."""

    key = "anomaly_anonymous_ip"
    label = "Activity from anonymous IP addresses"

    def _reason(self, a: ActivityLike, state: dict[str, Any], at: int) -> list[str] | None:
        tags = sorted(ANONYMIZER_TAGS.intersection(a.get("ip_tags") or ()))
        ip = a.get("ip_address")
        if not tags or not ip or (a.get("ip_category") or "") in OWN_CATEGORIES:
            return None
        users = state.setdefault("ips", {}).setdefault(ip, {})
        seen = users.setdefault(a.get("principal") or "", [])
        day = at // DAY
        if day not in seen:
            seen.append(day)
            seen.sort()
            del seen[:-ROUTINE_DAYS]  # only whether a principal reached ROUTINE_DAYS days matters
        routine = ROUTINE_PRINCIPALS.get(self.sensitivity)
        if routine is not None:
            regulars = sum(1 for days in users.values() if len(days) >= ROUTINE_DAYS)
            if regulars >= routine:
                return None
        return tags

    def _prune(self, state: dict[str, Any]) -> None:
        oldest = state["last"] // DAY - BASELINE_DAYS
        ips = state.get("ips", {})
        for ip in list(ips):
            users = ips[ip]
            for principal in list(users):
                users[principal] = [d for d in users[principal] if d >= oldest]
                if not users[principal]:
                    del users[principal]
            if not users:
                del ips[ip]


@register_detector
class SuspiciousIp(_TaggedIp):
    """Activity from an address a threat-intelligence feed lists as botnet / C&C, scanner or password
    spray (``SUSPICIOUS_TAGS``). Sensitivity: low counts successful activity only; medium any
    activity; high also activity from addresses of a range categorized Risky by hand."""

    key = "anomaly_suspicious_ip"
    label = "Activity from suspicious IP addresses"

    def _reason(self, a: ActivityLike, state: dict[str, Any], at: int) -> list[str] | None:
        if self.sensitivity == "low" and a.get("succeeded") is False:
            return None
        tags = sorted(SUSPICIOUS_TAGS.intersection(a.get("ip_tags") or ()))
        if tags:
            return tags
        if self.sensitivity == "high" and a.get("ip_category") == CATEGORY_RISKY:
            return ["Risky range"]
        return None
