"""Writes to alerts. Findings become alerts through ``alert_raise`` / ``alerts_raise`` only."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, time

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Alert
from policies import detection
from policies.engine import Finding
from policies.models import Policy
from policies.services import policy_record_suppressed


def detect_activities(*, activity_ids: Collection[int]) -> list[Alert]:
    """Run every enabled policy over the stored activities ``activity_ids`` and raise the alerts
    they find. Safe to run again on the same ids: the same findings find the same alerts."""
    return alerts_raise(findings=detection.detect(activity_ids=activity_ids))


def dedup_key(policy_id: int, finding: Finding) -> str:
    return hashlib.sha256(f"{policy_id}|{finding.key}".encode()).hexdigest()


def alert_raise(*, finding: Finding) -> Alert | None:
    """The alert for one finding: the one already raised for it (same policy and key), an open alert
    of the same policy and group that it continues, or a new one. None when the policy is gone, does
    not create alerts, or reached its daily alert limit (the finding is then counted on the policy)."""
    alerts = alerts_raise(findings=[finding])
    return alerts[0] if alerts else None


def alerts_raise(*, findings: Iterable[Finding]) -> list[Alert]:
    """``alert_raise`` for many findings; each policy's are handled in one transaction, holding the
    policy row so that concurrent workers count its daily limit and continue its alerts in turn."""
    by_policy: dict[int, list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.policy_id is not None:
            by_policy[finding.policy_id].append(finding)
    raised: list[Alert] = []
    for policy_id, policy_findings in by_policy.items():
        raised.extend(_raise_for_policy(policy_id, policy_findings))
    return raised


@dataclass
class _Day:
    day: object
    created: int
    suppressed: int = 0


def _raise_for_policy(policy_id: int, findings: list[Finding]) -> list[Alert]:
    raised: list[Alert] = []
    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(pk=policy_id).first()
        if policy is None or not policy.create_alert:
            return []
        today = _today(policy)
        keys = {id(f): dedup_key(policy.pk, f) for f in findings}
        known = {a.dedup_key: a for a in Alert.objects.filter(dedup_key__in=set(keys.values()))}
        for finding in sorted(findings, key=lambda f: (f.first_seen, f.key)):
            alert = _raise_one(policy, finding, today, keys[id(finding)], known)
            if alert is not None:
                raised.append(alert)
        if today.suppressed:
            policy_record_suppressed(policy=policy, count=today.suppressed, day=today.day)
    return raised


def _today(policy: Policy) -> _Day:
    day = timezone.localdate()
    start = timezone.make_aware(datetime.combine(day, time.min))
    return _Day(day=day, created=Alert.objects.filter(policy=policy, created_at__gte=start).count())


def _raise_one(
    policy: Policy, finding: Finding, today: _Day, key: str, known: dict[str, Alert]
) -> Alert | None:
    existing = known.get(key)
    while existing is not None and existing.status == Alert.Status.RESOLVED:
        # Resolved: a finding with nothing new is that alert again; one that goes on after the
        # resolution (a burst that continues) is a new alert, keyed by its first new activity so
        # that running detection again finds it.
        linked = set(existing.activities.filter(pk__in=finding.activity_ids).values_list("pk", flat=True))
        fresh = sorted(set(finding.activity_ids) - linked)
        if not fresh:
            return existing
        key = hashlib.sha256(f"{key}|{fresh[0]}".encode()).hexdigest()
        existing = Alert.objects.filter(dedup_key=key).first()
    if existing is not None:
        _extend(existing, finding)
        return existing
    continued = _continued(policy, finding)
    if continued is not None:
        _extend(continued, finding)
        return continued
    if today.created >= policy.daily_alert_limit:
        today.suppressed += 1
        return None
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                title=finding.title[:500],
                description=finding.description,
                severity=finding.severity or policy.severity,
                policy=policy,
                type=policy.type,
                connector_id=finding.connector_id,
                principal=finding.principal[:512],
                principal_name=finding.principal_name[:256],
                group_key=finding.group_key[:600],
                evidence=finding.evidence,
                mitre_tactic=policy.mitre_tactic,
                ips=list(finding.ips),
                countries=list(finding.countries),
                activity_count=max(finding.activity_count, len(finding.activity_ids)),
                first_activity_at=finding.first_seen,
                last_activity_at=finding.last_seen,
                dedup_key=key,
            )
            if finding.activity_ids:
                alert.activities.add(*finding.activity_ids)
    except IntegrityError:  # raised meanwhile by a worker that did not wait for the policy lock
        return Alert.objects.filter(dedup_key=key).first()
    known[key] = alert
    today.created += 1
    return alert


def _continued(policy: Policy, finding: Finding) -> Alert | None:
    """An unresolved alert of the same policy and group this finding continues: any, for anomaly
    suppression; one it overlaps or follows within the window, for repeated activity."""
    if not finding.extend_open and finding.continues_within is None:
        return None
    alerts = Alert.objects.filter(policy=policy, group_key=finding.group_key[:600]).exclude(
        status=Alert.Status.RESOLVED
    )
    if not finding.extend_open:
        within = finding.continues_within
        alerts = alerts.filter(
            last_activity_at__gte=finding.first_seen - within,
            first_activity_at__lte=finding.last_seen + within,
        )
    return alerts.order_by("-last_activity_at", "-pk").first()


def _extend(alert: Alert, finding: Finding) -> None:
    if finding.activity_ids:
        alert.activities.add(*finding.activity_ids)
    linked = alert.activities.count()
    count = max(linked, alert.activity_count, finding.activity_count)
    fields = ["first_activity_at", "last_activity_at", "activity_count", "ips", "countries", "modified_at"]
    if finding.activity_count >= count and finding.title != alert.title:
        # The finding covers everything the alert holds: its account of it is the latest.
        alert.title, alert.description, alert.evidence = (
            finding.title[:500],
            finding.description,
            finding.evidence,
        )
        fields += ["title", "description", "evidence"]
    alert.first_activity_at = min(alert.first_activity_at, finding.first_seen)
    alert.last_activity_at = max(alert.last_activity_at, finding.last_seen)
    alert.activity_count = count
    alert.ips = list(dict.fromkeys([*alert.ips, *finding.ips]))[:50]
    alert.countries = list(dict.fromkeys([*alert.countries, *finding.countries]))
    alert.save(update_fields=fields)
