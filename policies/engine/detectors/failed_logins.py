"""``anomaly_multiple_failed_logins``: a burst of failed console sign-ins (PRODUCT.md 6.2)."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from policies.engine.detectors._common import (
    BASELINE_DAYS,
    DAY,
    Episodes,
    clock,
    learning,
    learning_days,
    prune_keys,
    scaled,
    seconds,
    setting,
)
from policies.engine.detectors.registry import Detector, register_detector
from policies.engine.fields import ActivityLike, activity_ref
from policies.engine.findings import Finding

# Failed sign-ins within WINDOW_MINUTES that alert, by sensitivity (settings "count" and
# "window_minutes" give the medium values; low doubles the count, high takes 60% of it).
FAILED_LOGINS = {"low": 10, "medium": 5, "high": 3}
WINDOW_MINUTES = 10
# CloudTrail writes this user name when the name typed does not exist in the account.
HIDDEN_USER = "HIDDEN_DUE_TO_SECURITY_REASONS"


def is_failed_login(a: ActivityLike) -> bool:
    return a.get("event_name") == "ConsoleLogin" and (
        a.get("console_login") == "Failure" or a.get("succeeded") is False
    )


@register_detector
class MultipleFailedLogins(Detector):
    """Failed console sign-ins of one principal (or, for user names the account does not know, of one
    typed name from one IP) within ``window_minutes`` reaching the sensitivity's count and above the
    group's usual peak: the highest count seen in such a window on an earlier day of the last 30 days
    (windows that alerted are not learned). Learns for 7 days of event time from the first activity seen.
    Failures that follow within the window after an alert continue the same episode (one alert)."""

    key = "anomaly_multiple_failed_logins"
    label = "Multiple failed login attempts"

    def observe(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        clock(state, activities)
        window = int(setting(self.settings, "window_minutes", WINDOW_MINUTES) * 60)
        medium = setting(self.settings, "count", FAILED_LOGINS["medium"])
        floor = scaled(medium, self.sensitivity, minimum=2)
        days = learning_days(self.settings)
        groups: dict[str, dict[str, Any]] = state.setdefault("groups", {})
        episodes = Episodes(state, gap=window)
        found: dict[str, dict[str, Any]] = {}
        batch: dict[str, list[tuple[int, ActivityLike]]] = defaultdict(list)

        for a in activities:
            if not is_failed_login(a):
                continue
            at = seconds(a["event_time"])
            group = group_of(a)
            entry = groups.setdefault(group, {"recent": [], "peaks": {}})
            insort(entry["recent"], at)
            batch[group].append((at, a))
            count = len(entry["recent"]) - bisect_left(entry["recent"], at - window)
            day = at // DAY
            # Earlier days only: the ramp of this very burst is not "usual".
            usual = max((n for d, n in entry["peaks"].items() if int(d) < day), default=0)
            threshold = max(floor, usual + 1)
            open_episode = episodes.open.get(group)
            continuing = open_episode is not None and 0 <= at - open_episode[1] <= window
            if learning(state, at, days) or (count < threshold and not continuing):
                entry["peaks"][str(day)] = max(entry["peaks"].get(str(day), 0), count)
                continue
            key = episodes.key(group, at, activity_ref(a))
            hit = found.setdefault(key, {"group": group, "activities": {}, "count": 0, "usual": usual})
            hit["count"] = max(hit["count"], count)
            hit["threshold"] = threshold
            for moment, other in batch[group]:
                if at - window <= moment <= at:
                    hit["activities"][activity_ref(other)] = other

        self._prune(state, window)
        return [self._finding(key, hit, window) for key, hit in found.items()]

    def _finding(self, key: str, hit: Mapping[str, Any], window: int) -> Finding:
        activities = list(hit["activities"].values())
        first = activities[0]
        group = hit["group"]
        minutes = window // 60
        target = first.get("principal_name") or first.get("principal") or "an unknown user"
        ips = sorted({a.get("ip_address") or a.get("source_ip") or "" for a in activities} - {""})
        explanation = (
            f"Failed sign-ins of {target} in {minutes} minutes: {hit['count']}, usual at most {hit['usual']}"
        )
        return self.finding(
            activities=activities,
            title=f"{self.policy.name}: {hit['count']} failed sign-ins of {target} in {minutes} minutes",
            description=(
                f"{explanation} (the policy alerts from {hit['threshold']} at {self.sensitivity} "
                f"sensitivity). From {', '.join(ips) or 'an unknown address'}."
            ),
            evidence={
                "explanation": explanation,
                "count": hit["count"],
                "usual_max": hit["usual"],
                "threshold": hit["threshold"],
                "window_minutes": minutes,
                "sensitivity": self.sensitivity,
                "ips": ips[:20],
            },
            principal=first.get("principal") or "",
            group_key=group,
            key=f"{self.policy.id or self.policy.key}|{key}",
        )

    def _prune(self, state: dict[str, Any], window: int) -> None:
        last = state["last"]
        oldest_day = (last - BASELINE_DAYS * DAY) // DAY
        groups = state["groups"]
        for group in list(groups):
            entry = groups[group]
            # Twice the window: late events from another region still meet their neighbours.
            entry["recent"] = entry["recent"][bisect_left(entry["recent"], last - 2 * window) :]
            prune_keys(entry["peaks"], oldest_day)
            if not entry["recent"] and not entry["peaks"]:
                del groups[group]
        Episodes(state, gap=window).prune(last)


def group_of(a: ActivityLike) -> str:
    """ "principal:<key>", or "user:<name>|ip:<address>" when the typed name is unknown to AWS."""
    name = a.get("principal_name") or ""
    principal = a.get("principal") or ""
    if not principal or name == HIDDEN_USER or principal.endswith(f"/{HIDDEN_USER}"):
        return f"user:{name or '?'}|ip:{a.get('ip_address') or a.get('source_ip') or ''}"
    return f"principal:{principal}"
