"""Writes on connectors: create from the wizard, change credentials, enable/disable, health check."""

from __future__ import annotations

from dataclasses import dataclass

from celery import current_app
from django.db import transaction
from django.utils import timezone

from connectors import validation
from connectors.aws import AwsCredentials
from connectors.models import Connector, ConnectorEvent
from connectors.validation import ValidationReport
from defender.audit import AuditAction, audit_record


class ConnectorValidationError(Exception):
    """The credentials did not pass validation; ``report`` says which check failed and why."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.summary())
        self.report = report


@dataclass(frozen=True)
class ConnectorSettings:
    """What the wizard (or the API) collects. The secret is only ever held here, in memory."""

    name: str
    auth_method: str = Connector.AuthMethod.ACCESS_KEYS
    access_key_id: str = ""
    secret_access_key: str = ""
    role_arn: str = ""
    external_id: str = ""
    regions: tuple[str, ...] = ()
    endpoint_url: str = ""
    history_days: int = Connector.HistoryDays.WEEK
    ingest_mode: str = Connector.IngestMode.LOOKUP_EVENTS
    trail_bucket: str = ""
    trail_prefix: str = ""

    def credentials(self) -> AwsCredentials:
        if self.auth_method == Connector.AuthMethod.ASSUME_ROLE:
            return AwsCredentials(role_arn=self.role_arn, external_id=self.external_id)
        return AwsCredentials(access_key_id=self.access_key_id, secret_access_key=self.secret_access_key)


def connector_credentials(connector: Connector) -> AwsCredentials:
    if connector.auth_method == Connector.AuthMethod.ASSUME_ROLE:
        return AwsCredentials(role_arn=connector.role_arn, external_id=connector.external_id)
    return AwsCredentials(
        access_key_id=connector.access_key_id, secret_access_key=connector.secret_access_key
    )


def connector_validate(*, config: ConnectorSettings) -> ValidationReport:
    return validation.validate(config.credentials(), endpoint_url=config.endpoint_url)


def _apply_report(connector: Connector, report: ValidationReport) -> None:
    connector.account_id = report.account_id or connector.account_id
    connector.caller_arn = report.caller_arn or connector.caller_arn
    connector.governance_enabled = report.governance_enabled
    connector.governance_reason = report.governance_reason
    connector.logs_all_regions = report.logs_all_regions
    connector.validation_report = report.as_list()
    connector.last_health_check = timezone.now()


# Settings whose change the audit log names. The secret is compared decrypted (each encryption gives a
# new token) and only its name is recorded.
_AUDITED_SETTINGS = (
    "name",
    "auth_method",
    "access_key_id",
    "secret_access_key",
    "role_arn",
    "external_id",
    "regions",
    "endpoint_url",
    "history_days",
    "ingest_mode",
    "trail_bucket",
    "trail_prefix",
)


def _record(connector: Connector, message: str, level: str = ConnectorEvent.Level.INFO, actor=None) -> None:
    ConnectorEvent.objects.create(connector=connector, message=message, level=level, actor=actor)


@transaction.atomic
def connector_save(
    *,
    config: ConnectorSettings,
    by,
    connector: Connector | None = None,
    report: ValidationReport | None = None,
) -> Connector:
    """Create a connector, or replace an existing one's settings, after validating them.

    Nothing is saved unless every required check passes; the connector is then Connected.
    ``report`` lets the wizard reuse the validation it has just shown.
    """
    report = report or connector_validate(config=config)
    if not report.ok:
        raise ConnectorValidationError(report)
    creating = connector is None
    connector = connector or Connector(created_by=by)
    before = {field: getattr(connector, field) for field in _AUDITED_SETTINGS}
    connector.name = config.name
    connector.auth_method = config.auth_method
    connector.access_key_id = config.access_key_id if config.auth_method == "access_keys" else ""
    if config.auth_method == Connector.AuthMethod.ACCESS_KEYS:
        connector.secret_access_key = config.secret_access_key
    else:
        connector.secret_access_key = ""
    connector.role_arn = config.role_arn
    connector.external_id = config.external_id
    connector.regions = list(config.regions)
    connector.endpoint_url = config.endpoint_url
    connector.history_days = config.history_days
    connector.ingest_mode = config.ingest_mode
    connector.trail_bucket = (
        config.trail_bucket if config.ingest_mode == Connector.IngestMode.S3_TRAIL else ""
    )
    connector.trail_prefix = (
        config.trail_prefix if config.ingest_mode == Connector.IngestMode.S3_TRAIL else ""
    )
    connector.modified_by = by
    _apply_report(connector, report)
    connector.status = Connector.Status.CONNECTED
    connector.status_reason = ""
    connector.connected_at = connector.connected_at or timezone.now()
    if creating:
        connector.detection_held = config.ingest_mode == Connector.IngestMode.LOOKUP_EVENTS
    connector.save()
    verb = "Connected" if creating else "Settings changed and validated"
    _record(connector, f"{verb} as {report.caller_arn} (account {report.account_id}).", actor=by)
    # Names of what changed, never values: one of them is the encrypted secret.
    changed = [field for field, value in before.items() if getattr(connector, field) != value]
    audit_record(
        action=AuditAction.CONNECTOR_CREATE if creating else AuditAction.CONNECTOR_UPDATE,
        target=connector,
        actor=by,
        details={"account_id": connector.account_id, "changed": changed},
    )
    from connectors.tasks import buckets_scan_task, inventory_refresh_task, poll_connector_task

    poll_connector_task.delay_on_commit(connector.pk)
    inventory_refresh_task.delay_on_commit(connector.pk)
    buckets_scan_task.delay_on_commit(connector.pk)
    return connector


@transaction.atomic
def connector_set_enabled(*, connector: Connector, enabled: bool, by) -> Connector:
    if enabled == connector.is_enabled:
        return connector
    connector.status = Connector.Status.PENDING if enabled else Connector.Status.DISABLED
    connector.status_reason = "" if enabled else f"Disabled by {by}"
    connector.modified_by = by
    connector.save(update_fields=["status", "status_reason", "modified_by", "modified_at"])
    _record(
        connector,
        "Enabled: a health check will confirm the connection." if enabled else "Disabled.",
        actor=by,
    )
    audit_record(
        action=AuditAction.CONNECTOR_ENABLE if enabled else AuditAction.CONNECTOR_DISABLE,
        target=connector,
        actor=by,
    )
    if enabled:
        from connectors.tasks import connector_health_check_task

        connector_health_check_task.delay_on_commit(connector.pk)
    return connector


@transaction.atomic
def connector_delete(*, connector: Connector, by) -> None:
    # The row lock first: a batch being stored either commits before the activities are collected or
    # finds the connector gone and rolls back (connectors.ingestion.store.ConnectorDeleted).
    Connector.objects.select_for_update().filter(pk=connector.pk).first()
    audit_record(
        action=AuditAction.CONNECTOR_DELETE,
        target=connector,
        actor=by,
        details={"account_id": connector.account_id},
    )
    connector.delete()


def connector_health_check(*, connector_id: int) -> Connector | None:
    """Re-validate an enabled connector; a change to `error` is recorded as an error event."""
    connector = Connector.objects.filter(pk=connector_id).exclude(status=Connector.Status.DISABLED).first()
    if connector is None:
        return None
    report = validation.validate(connector_credentials(connector), endpoint_url=connector.endpoint_url)
    with transaction.atomic():
        connector = Connector.objects.select_for_update().get(pk=connector_id)
        if connector.status == Connector.Status.DISABLED:
            return connector
        previous = connector.status
        _apply_report(connector, report)
        if report.ok:
            connector.status, connector.status_reason = Connector.Status.CONNECTED, ""
            connector.connected_at = connector.connected_at or timezone.now()
        else:
            connector.status, connector.status_reason = Connector.Status.ERROR, report.summary()
        connector.save()
        if connector.status != previous:
            if connector.status == Connector.Status.ERROR:
                _went_to_error(connector, f"Health check failed: {report.summary()}")
            else:
                _record(connector, "Health check passed: connection restored.")
    return connector


SYSTEM_ALERT_TASK = "alerts.connector_error"


def _went_to_error(connector: Connector, reason: str) -> None:
    """Record the change to `error` and raise a system alert about it (by task name: connectors does
    not import the alerts app)."""
    event = ConnectorEvent.objects.create(
        connector=connector, message=reason, level=ConnectorEvent.Level.ERROR
    )
    transaction.on_commit(lambda: current_app.send_task(SYSTEM_ALERT_TASK, args=[connector.pk, event.pk]))


def connector_mark_error(*, connector_id: int, reason: str) -> None:
    """Ingestion found the credentials or permissions broken: say so once, stop until fixed."""
    with transaction.atomic():
        connector = Connector.objects.select_for_update().filter(pk=connector_id).first()
        if connector is None or connector.status == Connector.Status.DISABLED:
            return
        changed = connector.status != Connector.Status.ERROR
        connector.status, connector.status_reason = Connector.Status.ERROR, reason
        connector.save(update_fields=["status", "status_reason", "modified_at"])
        if changed:
            _went_to_error(connector, reason)


def connector_sync(*, connector: Connector) -> None:
    """Sync now: re-validate the credentials and read new activity, without waiting for beat."""
    from connectors.tasks import connector_health_check_task, poll_connector_task

    connector_health_check_task.delay(connector.pk)
    poll_connector_task.delay(connector.pk)
