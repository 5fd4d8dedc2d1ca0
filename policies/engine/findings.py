"""What the engine produces: a ``Finding`` is one thing a policy saw, ready to become an alert (the alerts
app decides whether and how) or a line of ``scan_cloudtrail`` output. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# At most this many activity ids (what an alert links) travel with a finding; ``event_ids`` lists
# every activity and ``activity_count`` counts them.
MAX_FINDING_ACTIVITIES = 500


@dataclass
class Finding:
    """One detection.

    ``key`` identifies it: the same policy seeing the same activities (single activity: the activity;
    repeated activity: group + first activity of the burst) yields the same key however often
    detection runs, which is what makes alerts idempotent. ``group_key`` ("principal:<key>",
    "ip:<address>", "" for ungrouped) and ``continues_within`` let a later finding of the same policy
    and group extend an alert instead of raising a new one when it overlaps or follows within that
    time (repeated activity); ``extend_open`` makes any open alert of the same policy and group
    collect it (anomaly suppression).
    """

    policy_key: str
    title: str
    severity: str
    principal: str
    first_seen: datetime
    last_seen: datetime
    key: str
    policy_id: int | None = None
    principal_name: str = ""
    description: str = ""
    activity_ids: tuple[int, ...] = ()
    event_ids: tuple[str, ...] = ()
    activity_count: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)
    group_key: str = ""
    connector_id: int | None = None
    continues_within: timedelta | None = None
    extend_open: bool = False
    ips: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The ``scan_cloudtrail`` line: policy, title, severity, principal, event_ids, first/last seen."""
        return {
            "policy": self.policy_key,
            "title": self.title,
            "severity": self.severity,
            "principal": self.principal,
            "event_ids": list(self.event_ids),
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
        }


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, as CloudTrail writes times."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"
