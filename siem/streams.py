"""The three exported streams, each an append-only table read in id order:

- ``alerts``: new alerts (``alerts.Alert``), filtered by the destination's minimum severity.
- ``alert_updates``: what happened to an alert after it was raised, from its history
  (``alerts.AlertEvent``: status changes, assignment, resolution with classification, reopening,
  comments, governance actions), filtered by the alert's severity. Creation is the ``alerts`` stream
  and notifications are the portal's own business, so neither is repeated here.
- ``activities``: CloudTrail activity (``connectors.Activity``), unfiltered.

``stable_high_water`` gives, per table, an id at or below which no row can still appear: the
export never reads past it, which is what lets a cursor (``SiemCursor.position``) be a plain id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import OperationalError, connection, transaction
from django.db.models import Max, Model, QuerySet

from alerts.models import Alert, AlertEvent
from alerts.notifications import alert_url
from connectors.models import Activity
from siem.formats import Record
from siem.models import SiemCursor, SiemDestination

# How long the export waits for in-flight writers of a table before trying again at the next run.
HIGH_WATER_LOCK_TIMEOUT_MS = 2000
UPDATE_KINDS = (
    AlertEvent.Kind.STATUS_CHANGED,
    AlertEvent.Kind.ASSIGNED,
    AlertEvent.Kind.RESOLVED,
    AlertEvent.Kind.REOPENED,
    AlertEvent.Kind.COMMENTED,
    AlertEvent.Kind.GOVERNANCE,
)


def stable_high_water(model: type[Model]) -> int | None:
    """The highest id of ``model`` below which every row that will ever exist is already visible;
    None when that cannot be established now (writers held the table past the lock timeout).

    Ids are allocated when a row is inserted, not when its transaction commits, so on PostgreSQL a
    row with id 10 can become visible after the row with id 11: a cursor that read 11 would skip 10
    for ever, and a settle delay only narrows that window. Taking the table's SHARE lock waits until
    every transaction that inserted into it has ended and keeps new inserts out while MAX(id) is
    read; sequences only grow, so every later insert gets a larger id. The lock lasts one index
    lookup (plus the wait for writers, bounded by ``HIGH_WATER_LOCK_TIMEOUT_MS``).

    SQLite has one writer at a time and allocates ids inside the write transaction, in commit
    order: the largest visible id is already stable.
    """
    if connection.vendor != "postgresql":
        return model.objects.aggregate(top=Max("pk"))["top"] or 0
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.pk.column)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = {int(HIGH_WATER_LOCK_TIMEOUT_MS)}")
            cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
            cursor.execute(f"SELECT MAX({column}) FROM {table}")
            return cursor.fetchone()[0] or 0
    except OperationalError:
        return None


@dataclass(frozen=True)
class Stream:
    key: str
    model: type[Model]
    enabled: Callable[[SiemDestination], bool]
    rows: Callable[[SiemDestination], QuerySet]
    record: Callable[[Model], Record]

    def pending(self, destination: SiemDestination, after: int, up_to: int) -> QuerySet:
        return self.rows(destination).filter(pk__gt=after, pk__lte=up_to).order_by("pk")


def _alert_fields(alert: Alert) -> dict:
    return {
        "alert_id": alert.pk,
        "title": alert.title,
        "severity": alert.severity,
        "status": alert.status,
        "policy": alert.policy.name if alert.policy else None,
        "policy_key": alert.policy.template_key if alert.policy else None,
        "alert_type": alert.type,
        "principal": alert.principal,
        "principal_name": alert.principal_name,
        "aws_account": alert.connector.account_id if alert.connector else None,
        "connector": alert.connector.name if alert.connector else None,
        "url": alert_url(alert),
    }


def _alert_signature(alert: Alert) -> str:
    if alert.policy is None:
        return alert.type
    return alert.policy.template_key or f"custom_policy_{alert.policy_id}"


def alert_record(alert: Alert) -> Record:
    document = {
        "type": "alert",
        "id": f"alert-{alert.pk}",
        "time": alert.created_at,
        **_alert_fields(alert),
        "description": alert.description,
        "mitre_tactic": alert.mitre_tactic,
        "ips": alert.ips,
        "countries": alert.countries,
        "activity_count": alert.activity_count,
        "first_activity_at": alert.first_activity_at,
        "last_activity_at": alert.last_activity_at,
        "evidence": alert.evidence,
    }
    extension = {
        "rt": alert.created_at,
        "start": alert.first_activity_at,
        "end": alert.last_activity_at,
        "externalId": f"alert-{alert.pk}",
        "cat": alert.type,
        "act": alert.status,
        "suser": alert.principal_name or alert.principal,
        "src": alert.ips[0] if alert.ips else None,
        "cnt": alert.activity_count,
        "msg": alert.description,
        "cs1Label": "policy",
        "cs1": alert.policy.name if alert.policy else None,
        "cs2Label": "mitreTactic",
        "cs2": alert.mitre_tactic,
        "cs3Label": "awsAccount",
        "cs3": alert.connector.account_id if alert.connector else None,
        "cs4Label": "countries",
        "cs4": alert.countries,
        "cs5Label": "principalArn",
        "cs5": alert.principal,
        "cs6Label": "alertUrl",
        "cs6": alert_url(alert),
    }
    return Record(
        msgid="alert",
        time=alert.created_at,
        signature_id=_alert_signature(alert),
        name=alert.title,
        severity=alert.severity,
        document=document,
        extension=extension,
    )


def alert_update_record(event: AlertEvent) -> Record:
    alert = event.alert
    actor = event.actor.get_username() if event.actor else ""
    document = {
        "type": "alert_update",
        "id": f"alert-update-{event.pk}",
        "time": event.created_at,
        "change": event.kind,
        "message": event.message,
        "data": event.data,
        "actor": actor or None,
        **_alert_fields(alert),
        "classification": alert.classification or None,
    }
    extension = {
        "rt": event.created_at,
        "externalId": f"alert-update-{event.pk}",
        "act": event.kind,
        "outcome": alert.status,
        "suser": alert.principal_name or alert.principal,
        "duser": actor,
        "msg": event.message,
        "cs1Label": "policy",
        "cs1": alert.policy.name if alert.policy else None,
        "cs2Label": "alertId",
        "cs2": f"alert-{alert.pk}",
        "cs3Label": "awsAccount",
        "cs3": alert.connector.account_id if alert.connector else None,
        "cs4Label": "classification",
        "cs4": alert.classification,
        "cs6Label": "alertUrl",
        "cs6": alert_url(alert),
    }
    return Record(
        msgid="alert_update",
        time=event.created_at,
        signature_id=f"alert_{event.kind}",
        name=f"{event.get_kind_display()}: {alert.title}",
        severity=alert.severity,
        document=document,
        extension=extension,
    )


def activity_severity(activity: Activity) -> str:
    """Activities have no severity of their own: failed writes stand out, reads stay informational."""
    if not activity.succeeded and not activity.read_only:
        return "medium"
    if activity.administrative:
        return "low"
    return "informational"


def activity_record(activity: Activity) -> Record:
    document = {
        "type": "activity",
        "id": f"activity-{activity.pk}",
        "time": activity.event_time,
        "event_id": activity.event_id,
        "event_name": activity.event_name,
        "event_source": activity.event_source,
        "service": activity.service,
        "region": activity.region,
        "aws_account": activity.recipient_account_id or activity.connector.account_id,
        "connector": activity.connector.name,
        "principal": activity.principal,
        "principal_name": activity.principal_name,
        "principal_type": activity.principal_type,
        "access_key_id": activity.access_key_id,
        "source_ip": activity.source_ip,
        "user_agent": activity.user_agent,
        "country": activity.country,
        "city": activity.city,
        "asn": activity.asn,
        "isp": activity.isp,
        "ip_category": activity.ip_category,
        "ip_tags": activity.ip_tags,
        "read_only": activity.read_only,
        "administrative": activity.administrative,
        "succeeded": activity.succeeded,
        "error_code": activity.error_code,
        "error_message": activity.error_message,
        "console_login": activity.console_login,
        "mfa_used": activity.mfa_used,
        "resources": activity.resources,
        "ingested_at": activity.ingested_at,
    }
    extension = {
        "rt": activity.event_time,
        "externalId": activity.event_id,
        "act": activity.event_name,
        "app": activity.event_source,
        "outcome": "success" if activity.succeeded else "failure",
        "reason": activity.error_code,
        "suser": activity.principal_name or activity.principal,
        "src": activity.ip_address,
        "requestClientApplication": activity.user_agent,
        "cs1Label": "awsAccount",
        "cs1": activity.recipient_account_id or activity.connector.account_id,
        "cs2Label": "awsRegion",
        "cs2": activity.region,
        "cs3Label": "principalArn",
        "cs3": activity.principal,
        "cs4Label": "ipCategory",
        "cs4": activity.ip_category,
        "cs5Label": "country",
        "cs5": activity.country,
        "cs6Label": "accessKeyId",
        "cs6": activity.access_key_id,
    }
    return Record(
        msgid="activity",
        time=activity.event_time,
        signature_id=activity.event_name,
        name=f"{activity.event_name} by {activity.principal_name or activity.principal}",
        severity=activity_severity(activity),
        document=document,
        extension=extension,
    )


STREAMS: dict[str, Stream] = {
    SiemCursor.Stream.ALERTS: Stream(
        key=SiemCursor.Stream.ALERTS,
        model=Alert,
        enabled=lambda destination: destination.export_alerts,
        rows=lambda destination: Alert.objects.filter(severity__in=destination.severities).select_related(
            "policy", "connector"
        ),
        record=alert_record,
    ),
    SiemCursor.Stream.ALERT_UPDATES: Stream(
        key=SiemCursor.Stream.ALERT_UPDATES,
        model=AlertEvent,
        enabled=lambda destination: destination.export_alert_updates,
        rows=lambda destination: AlertEvent.objects.filter(
            kind__in=UPDATE_KINDS, alert__severity__in=destination.severities
        ).select_related("alert__policy", "alert__connector", "actor"),
        record=alert_update_record,
    ),
    SiemCursor.Stream.ACTIVITIES: Stream(
        key=SiemCursor.Stream.ACTIVITIES,
        model=Activity,
        enabled=lambda destination: destination.export_activities,
        rows=lambda destination: Activity.objects.select_related("connector"),
        record=activity_record,
    ),
}
