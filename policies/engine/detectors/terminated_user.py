"""``anomaly_terminated_user``: activity of an AWS principal whose person the identity provider says
has left (PRODUCT.md 6.2 and 9). Who a principal belongs to comes from the directory snapshot in the
detector's context (``connectors.directory``); there is nothing to learn, so no learning period."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.directory import owner_of
from policies.engine.detectors._common import seconds, when, who
from policies.engine.detectors.registry import Detector, register_detector
from policies.engine.fields import ActivityLike
from policies.engine.findings import Finding


@register_detector
class TerminatedUser(Detector):
    key = "anomaly_terminated_user"
    label = "Activity performed by terminated user"

    def observe(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        directory = self.context.get("directory") or {}
        if not directory:
            return []
        after: dict[str, list[ActivityLike]] = {}
        owners = {}
        for activity in activities:
            principal = activity.get("principal") or ""
            owner = owner_of(principal, activity.get("principal_name") or "", directory)
            if owner is None or owner.terminated_at is None or activity["event_time"] <= owner.terminated_at:
                continue
            after.setdefault(principal, []).append(activity)
            owners[principal] = owner
        return [self._finding(principal, found, owners[principal]) for principal, found in after.items()]

    def _finding(self, principal: str, activities: list[ActivityLike], owner) -> Finding:
        first, last = activities[0], activities[-1]
        person = owner.display_name or owner.email
        explanation = (
            f"{person} ({owner.email}) was terminated at {when(seconds(owner.terminated_at))}; "
            f"{who(first)} was used {len(activities)} times after that, "
            f"first at {when(seconds(first['event_time']))}, last at {when(seconds(last['event_time']))}"
        )
        names = sorted({a.get("event_name", "") for a in activities})
        return self.finding(
            activities=activities,
            title=f"{self.policy.name}: {who(first)} of {person}",
            description=f"{explanation}. Events: {', '.join(names[:10])}.",
            evidence={
                "explanation": explanation,
                "person": person,
                "email": owner.email,
                "terminated_at": owner.terminated_at.isoformat(),
                "activities_after": len(activities),
            },
            principal=principal,
            group_key=f"principal:{principal}",
        )
