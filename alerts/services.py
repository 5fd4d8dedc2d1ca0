"""Writes to alerts. Findings become alerts through ``alert_raise`` / ``alerts_raise`` only; triage
(assign, status, resolve, reopen, comment) goes through the ``alert_*`` / ``alerts_*`` services below,
each in one transaction and each recording who did what in the alert's history (``AlertEvent``)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, time

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from alerts.models import Alert, AlertEvent
from connectors.models import Activity, Bucket, ConnectorEvent, PendingDetection
from connectors.selectors import history_page
from defender.audit import AuditAction, audit_record
from policies import detection
from policies.engine import Finding, compile_policy
from policies.engine.buckets import BucketFacts, evaluate_buckets
from policies.models import Policy
from policies.services import policy_record_suppressed

# The governance app's task that runs a policy's automatic governance actions for a new alert.
GOVERNANCE_TASK = "governance.run_for_alert"


def detect_activities(*, activity_ids: Collection[int], pending_id: int | None = None) -> list[Alert]:
    """Run every enabled policy over the stored activities ``activity_ids`` and raise the alerts
    they find. Safe to run again on the same ids: the same findings find the same alerts. Once they
    are raised, the ingestion's record that these activities await detection (``pending_id``) goes."""
    alerts = alerts_raise(findings=detection.detect(activity_ids=activity_ids))
    if pending_id is not None:
        PendingDetection.objects.filter(pk=pending_id).delete()
    return alerts


# Activities per step of a history walk: the same batch size ingestion hands to detection.
HISTORY_STEP = 5000


def detect_history_step(
    *, connector_id: int, upto_id: int | None = None, after: list | None = None
) -> tuple[int, list] | None:
    """Detect the next step of a connector's stored history, oldest first (see
    ``connectors.ingestion.history``). ``upto_id`` bounds the walk to what was stored when it began
    (the first step sets it); ``after`` is the [ISO event time, id] of the last activity detected.
    Returns the arguments of the next step, or None when the walk is over."""
    if upto_id is None:
        upto_id = Activity.objects.filter(connector_id=connector_id).aggregate(top=Max("pk"))["top"]
        if upto_id is None:
            return None
    cursor = (datetime.fromisoformat(after[0]), int(after[1])) if after else None
    page = history_page(connector_id=connector_id, upto_id=upto_id, after=cursor, size=HISTORY_STEP)
    if page:
        detect_activities(activity_ids=[pk for pk, _ in page])
    if len(page) < HISTORY_STEP:
        return None
    last_id, last_time = page[-1]
    return upto_id, [last_time.isoformat(), last_id]


def detect_buckets(*, bucket_ids: Collection[int]) -> list[Alert]:
    """Run the enabled file policies over the scanned buckets ``bucket_ids`` and raise the alerts they
    find: one open alert per public bucket. Safe to run again on the same ids."""
    policies = Policy.objects.filter(enabled=True, type=Policy.Type.FILE).order_by("pk")
    compiled = [compile_policy(detection.spec_of(policy)) for policy in policies]
    if not compiled:
        return []
    buckets = Bucket.objects.filter(pk__in=list(bucket_ids)).select_related("connector").order_by("pk")
    return alerts_raise(findings=evaluate_buckets(compiled, [_bucket_facts(b) for b in buckets]))


def _bucket_facts(bucket: Bucket) -> BucketFacts:
    return BucketFacts(
        id=bucket.pk,
        name=bucket.name,
        connector_id=bucket.connector_id,
        connector=bucket.connector.name,
        account_id=bucket.connector.account_id,
        group_key=bucket.alert_group_key,
        scanned_at=bucket.last_scanned,
        region=bucket.region,
        owner=bucket.owner,
        public=bucket.access == Bucket.Access.PUBLIC,
        public_since=bucket.public_since,
        public_grants=tuple(bucket.public_grants),
        policy_public=bucket.policy_makes_public if bucket.policy_public is not None else None,
    )


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
            AlertEvent.objects.create(
                alert=alert, kind=AlertEvent.Kind.CREATED, message=f"Raised by the policy {policy.name}."
            )
            if policy.email_recipients or policy.webhook_url:
                from alerts.tasks import notify_email_task, notify_webhook_task

                if policy.email_recipients:
                    notify_email_task.delay_on_commit(alert.pk)
                if policy.webhook_url:
                    notify_webhook_task.delay_on_commit(alert.pk)
            if policy.governance_automatic and policy.governance_actions:
                # Governance sits above alerts: it is reached by task name only.
                alert_id = alert.pk
                transaction.on_commit(lambda: current_app.send_task(GOVERNANCE_TASK, args=[alert_id]))
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


# --------------------------------------------------------------------------------------------------
# Triage


def _event(alert: Alert, kind: str, by: AbstractBaseUser | None, message: str = "", **data) -> AlertEvent:
    return AlertEvent(alert=alert, kind=kind, actor=by, message=message, data=data)


def _audit(alerts: Iterable[Alert], action: str, by: AbstractBaseUser | None, **details) -> None:
    for alert in alerts:
        audit_record(action=action, target=alert, actor=by, details=details)


def _locked(alerts: Iterable[Alert]) -> list[Alert]:
    """The alerts' current rows, locked for this transaction, in id order (no deadlocks between bulks)."""
    ids = {alert.pk for alert in alerts}
    return list(Alert.objects.select_for_update().filter(pk__in=ids).order_by("pk"))


def _clean_comment(text: str, *, required: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError(required)
    return text


def _check_classification(classification: str) -> None:
    if classification not in Alert.Classification.values:
        raise ValidationError("Choose how to classify the alert: true positive, benign or false positive.")


def alert_assign(*, alert: Alert, assignee: AbstractBaseUser | None, by: AbstractBaseUser) -> Alert:
    """Assign ``alert`` to ``assignee`` (None: unassign)."""
    alerts_assign(alerts=[alert], assignee=assignee, by=by)
    alert.refresh_from_db()
    return alert


def alerts_assign(*, alerts: Iterable[Alert], assignee: AbstractBaseUser | None, by: AbstractBaseUser) -> int:
    """Assign every alert to ``assignee``; alerts already theirs are left alone. Returns how many changed."""
    with transaction.atomic():
        changed = [a for a in _locked(alerts) if a.assigned_to_id != (assignee.pk if assignee else None)]
        if not changed:
            return 0
        Alert.objects.filter(pk__in=[a.pk for a in changed]).update(
            assigned_to=assignee, modified_at=timezone.now()
        )
        name = assignee.get_username() if assignee else ""
        AlertEvent.objects.bulk_create(
            [
                _event(
                    a,
                    AlertEvent.Kind.ASSIGNED,
                    by,
                    f"Assigned to {name}." if assignee else "Unassigned.",
                    assignee=name,
                )
                for a in changed
            ]
        )
        _audit(changed, AuditAction.ALERT_ASSIGN, by, assignee=name or None)
    return len(changed)


def alert_set_status(*, alert: Alert, status: str, by: AbstractBaseUser) -> Alert:
    """Mark ``alert`` open or in progress. Resolving needs a classification and a comment
    (``alert_resolve``); setting a resolved alert back to open or in progress reopens it."""
    if status == Alert.Status.RESOLVED:
        raise ValidationError("Resolve the alert with a classification and a comment.")
    if status not in Alert.Status.values:
        raise ValidationError("Choose a status: open or in progress.")
    with transaction.atomic():
        (current,) = _locked([alert])
        if current.status == status:
            return current
        if current.status == Alert.Status.RESOLVED:
            _reopen(current, by, status)
        else:
            old = current.get_status_display()
            current.status = status
            current.save(update_fields=["status", "modified_at"])
            _event(
                current,
                AlertEvent.Kind.STATUS_CHANGED,
                by,
                f"Status changed from {old} to {current.get_status_display()}.",
                old=old,
                new=status,
            ).save()
            _audit([current], AuditAction.ALERT_SET_STATUS, by, old=old, new=current.get_status_display())
    alert.refresh_from_db()
    return alert


def alert_resolve(*, alert: Alert, by: AbstractBaseUser, classification: str, comment: str) -> Alert:
    """Resolve ``alert`` as true positive, benign or false positive; the comment says why (required)."""
    alerts_resolve(alerts=[alert], by=by, classification=classification, comment=comment)
    alert.refresh_from_db()
    return alert


def alerts_resolve(
    *, alerts: Iterable[Alert], by: AbstractBaseUser, classification: str, comment: str
) -> int:
    """Resolve every alert not resolved yet with the same classification and comment. Returns how many."""
    _check_classification(classification)
    comment = _clean_comment(comment, required="Add a comment that says why the alert is resolved.")
    with transaction.atomic():
        pending = [a for a in _locked(alerts) if a.status != Alert.Status.RESOLVED]
        if not pending:
            return 0
        now = timezone.now()
        Alert.objects.filter(pk__in=[a.pk for a in pending]).update(
            status=Alert.Status.RESOLVED,
            classification=classification,
            resolution_comment=comment,
            resolved_at=now,
            resolved_by=by,
            modified_at=now,
        )
        label = Alert.Classification(classification).label
        AlertEvent.objects.bulk_create(
            [
                _event(a, AlertEvent.Kind.RESOLVED, by, comment, classification=classification, label=label)
                for a in pending
            ]
        )
        _audit(pending, AuditAction.ALERT_RESOLVE, by, classification=label)
    return len(pending)


def alerts_dismiss(*, alerts: Iterable[Alert], by: AbstractBaseUser, comment: str) -> int:
    """Resolve the alerts as false positives (the queue's "Dismiss as false positive")."""
    return alerts_resolve(
        alerts=alerts, by=by, classification=Alert.Classification.FALSE_POSITIVE, comment=comment
    )


def alert_reopen(*, alert: Alert, by: AbstractBaseUser) -> Alert:
    """Open a resolved alert again; its classification and resolution comment are cleared (the history
    keeps them)."""
    with transaction.atomic():
        (current,) = _locked([alert])
        if current.status != Alert.Status.RESOLVED:
            raise ValidationError("Only a resolved alert can be reopened.")
        _reopen(current, by, Alert.Status.OPEN)
    alert.refresh_from_db()
    return alert


def _reopen(alert: Alert, by: AbstractBaseUser, status: str) -> None:
    was = alert.get_classification_display()
    alert.status = status
    alert.classification = ""
    alert.resolution_comment = ""
    alert.resolved_at = None
    alert.resolved_by = None
    alert.save(
        update_fields=[
            "status",
            "classification",
            "resolution_comment",
            "resolved_at",
            "resolved_by",
            "modified_at",
        ]
    )
    message = f"Reopened (was resolved as {was.lower()})." if was else "Reopened."
    _event(alert, AlertEvent.Kind.REOPENED, by, message, status=status).save()
    _audit([alert], AuditAction.ALERT_REOPEN, by, was=was or None)


def alert_comment(*, alert: Alert, by: AbstractBaseUser, text: str) -> AlertEvent:
    """Add a comment to the alert's history."""
    text = _clean_comment(text, required="Write a comment first.")
    with transaction.atomic():
        Alert.objects.filter(pk=alert.pk).update(modified_at=timezone.now())
        _audit([alert], AuditAction.ALERT_COMMENT, by)
        return AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.COMMENTED, actor=by, message=text)


def alert_mark_read(*, alert: Alert, user: AbstractBaseUser) -> None:
    """``user`` opened the alert: it no longer shows as unread in their queue. Not part of the history."""
    alert.read_by.add(user)


def alert_raise_for_connector_error(*, connector_event_id: int) -> Alert | None:
    """A system alert for a connected account that turned to `error` (once per such change)."""
    event = ConnectorEvent.objects.select_related("connector").filter(pk=connector_event_id).first()
    if event is None:
        return None
    connector = event.connector
    alert, created = Alert.objects.get_or_create(
        dedup_key=f"connector-error:{event.pk}",
        defaults={
            "title": f"{connector.name}: the connection to AWS failed",
            "description": f"{event.message} Activity of this account is not being read until this is fixed "
            "in AWS or in Settings > Connected apps.",
            "severity": "high",
            "type": "system",
            "connector": connector,
            "evidence": {"explanation": event.message, "account_id": connector.account_id},
            "first_activity_at": event.created_at,
            "last_activity_at": event.created_at,
        },
    )
    if created:
        AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.CREATED, message="Raised by the portal.")
    return alert
