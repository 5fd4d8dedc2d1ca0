"""Reads of the governance log, and what an alert offers to act on."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from alerts.models import Alert
from connectors.directory import directory_snapshot, owner_of
from connectors.ingestion.normalize import S3_BUCKET
from governance.models import GovernanceRun

RUN_SORTS = {
    "created_at",
    "-created_at",
    "finished_at",
    "-finished_at",
    "action",
    "-action",
    "status",
    "-status",
}
# Where a finding names its bucket in the evidence (the public-bucket file policy, S3 detectors).
EVIDENCE_BUCKET_KEYS = ("bucket", "bucket_name", "buckets")
ALERT_ACTIVITIES_SCANNED = 200


def run_list(
    *,
    status: str = "",
    action: str = "",
    connector_id: str | int = "",
    alert_id: str | int = "",
    trigger: str = "",
    search: str = "",
    sort: str = "-created_at",
) -> QuerySet[GovernanceRun]:
    """The governance log, filtered. ``trigger`` is "policy" or "person"; ``search`` matches the target."""
    runs = GovernanceRun.objects.select_related("connector", "alert", "policy", "triggered_by")
    if status in GovernanceRun.Status.values:
        runs = runs.filter(status=status)
    if action:
        runs = runs.filter(action=action)
    if str(connector_id).isdigit():
        runs = runs.filter(connector_id=int(connector_id))
    if str(alert_id).isdigit():
        runs = runs.filter(alert_id=int(alert_id))
    if trigger == "policy":
        runs = runs.filter(policy__isnull=False)
    elif trigger == "person":
        runs = runs.filter(policy__isnull=True)
    if search:
        runs = runs.filter(Q(target__icontains=search) | Q(summary__icontains=search))
    order = sort if sort in RUN_SORTS else "-created_at"
    return runs.order_by(order, "-pk")


def run_get(*, pk: int) -> GovernanceRun:
    return GovernanceRun.objects.select_related("connector", "alert", "policy", "triggered_by").get(pk=pk)


def recent_runs(*, limit: int = 8) -> list[GovernanceRun]:
    return list(run_list()[:limit])


def alert_targets(*, alert: Alert) -> dict[str, list[str]]:
    """What governance can act on for ``alert``: its user (an IAM user, or a principal that maps to
    a person in the directory) and the buckets its evidence and related activities name."""
    users: list[str] = []
    principal = alert.principal
    if principal and (
        (principal.startswith("arn:aws:iam::") and ":user/" in principal)
        or owner_of(principal, alert.principal_name, directory_snapshot()) is not None
    ):
        users.append(principal)
    buckets: dict[str, None] = {}
    evidence = alert.evidence if isinstance(alert.evidence, dict) else {}
    for key in EVIDENCE_BUCKET_KEYS:
        value = evidence.get(key)
        for name in value if isinstance(value, list) else [value]:
            if isinstance(name, str) and name:
                buckets[name] = None
    for resources in alert.activities.order_by("-event_time").values_list("resources", flat=True)[
        :ALERT_ACTIVITIES_SCANNED
    ]:
        for resource in resources or ():
            if isinstance(resource, dict) and resource.get("type") == S3_BUCKET and resource.get("name"):
                buckets[resource["name"]] = None
    return {GovernanceRun.TargetType.USER: users, GovernanceRun.TargetType.BUCKET: list(buckets)}
