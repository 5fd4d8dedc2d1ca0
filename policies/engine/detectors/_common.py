"""Pieces the anomaly detectors share: event-time clocks, learning periods, sensitivity scaling, bounded
per-hour / per-day baselines and suppression episodes. Pure; everything kept in the detector's JSON
state is made of ints, strings, lists and dicts.

Conventions:

- Times in state are UNIX seconds of EVENT time (never the wall clock); hours and days are
  ``seconds // 3600`` and ``seconds // 86400`` (UTC), stored as string keys (JSON objects).
- ``state["first"]`` is the earliest event time the detector has seen (organization-wide learning
  starts there); per-principal learning keeps ``first`` in the principal's own entry.
- Baselines keep at most ``BASELINE_DAYS`` of hourly buckets or daily sets, pruned against the
  latest event time seen (``state["last"]``), so state stays bounded however long a policy runs.
- An episode (suppression): while an anomaly of one principal (+ key) continues, every finding carries
  the same ``key`` and ``group_key`` with ``extend_open``, so the alerts app keeps collecting activities
  into one open alert instead of raising a new one per event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

HOUR = 3600
DAY = 86400
BASELINE_DAYS = 30
LEARNING_DAYS = 7

# Sensitivity scales a threshold given for medium: low alerts on bigger anomalies, high on smaller ones.
# E.g. failed sign-ins 5 (medium) -> 10 (low) / 3 (high); terminated VMs 5 -> 10 / 3.
THRESHOLD_FACTOR = {"low": 2.0, "medium": 1.0, "high": 0.6}


# Every detector reads every activity's time: cached, the conversion runs once per activity, not
# once per detector.
@lru_cache(maxsize=1 << 16)
def seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def clock(state: dict[str, Any], activities: Sequence[Mapping[str, Any]]) -> None:
    """Record the earliest and latest event times seen (learning starts at ``first``). The activities
    are in time order (the detector contract): the first and the last span them."""
    if not activities:
        return
    earliest, latest = seconds(activities[0]["event_time"]), seconds(activities[-1]["event_time"])
    state["first"] = min(state["first"], earliest) if "first" in state else earliest
    state["last"] = max(state.get("last", 0), latest)


def learning(entry: Mapping[str, Any], at: int, days: int) -> bool:
    """Whether ``at`` falls in the learning period that starts at ``entry["first"]``."""
    first = entry.get("first")
    return first is None or at < first + days * DAY


def learning_days(settings: Mapping[str, Any]) -> int:
    try:
        return max(0, int(settings.get("learning_days", LEARNING_DAYS)))
    except (TypeError, ValueError):
        return LEARNING_DAYS


def scaled(medium: float, sensitivity: str, *, minimum: int = 1) -> int:
    """``medium`` (the threshold at medium sensitivity) moved by the sensitivity."""
    return max(minimum, math.ceil(medium * THRESHOLD_FACTOR.get(sensitivity, 1.0) - 1e-9))


def setting(settings: Mapping[str, Any], name: str, default: float) -> float:
    try:
        value = float(settings.get(name, default))
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def prune_keys(buckets: dict[str, Any], oldest: int) -> None:
    """Drop the buckets keyed by an hour/day index below ``oldest``."""
    for key in [k for k in buckets if int(k) < oldest]:
        del buckets[key]


def who(activity: Mapping[str, Any]) -> str:
    return activity.get("principal_name") or activity.get("principal") or "an unknown principal"


def is_aws_service(activity: Mapping[str, Any]) -> bool:
    """A call an AWS service made (no caller IP address): never the person's own doing or place."""
    return not activity.get("ip_address") or activity.get("principal_type") == "AWSService"


def when(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


class Episodes:
    """Open anomalies (suppression) by group, in ``state["episodes"]``: group -> [key, last seen].

    An anomaly that shows again within ``gap`` seconds of the last one continues the episode (same
    finding key); after that a new episode starts. The alerts app extends any open alert of the policy
    and group anyway (``extend_open``); the shared key also makes a scan report one line per episode.
    """

    def __init__(self, state: dict[str, Any], gap: int):
        self.open: dict[str, list] = state.setdefault("episodes", {})
        self.gap = gap

    def key(self, group: str, at: int, first_ref: Any) -> str:
        current = self.open.get(group)
        if current is not None and abs(at - current[1]) <= self.gap:
            current[1] = max(current[1], at)
            return current[0]
        key = f"{group}|{first_ref}"
        self.open[group] = [key, at]
        return key

    def prune(self, now: int) -> None:
        for group in [g for g, (_, last) in self.open.items() if now - last > max(self.gap, DAY)]:
            del self.open[group]
