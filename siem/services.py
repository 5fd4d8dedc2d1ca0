"""SIEM export: destinations (configured in Settings > SIEM export) and the export itself.

Guarantees, per destination and stream (``siem.streams``):
- **In order, nothing skipped.** A stream is read in id order, and never past the table's stable
  high-water mark (``streams.stable_high_water``): the highest id below which no row can still
  appear because its transaction is still open. A plain ``id > cursor`` would skip, for ever, a row
  whose transaction committed after a row with a larger id was exported.
- **Nothing sent twice after a success, nothing lost after a failure.** A batch is sent first and
  its cursor moved only after the transport accepted the whole batch (at-least-once towards the
  network: a worker killed between the two sends that batch again; receivers can de-duplicate on
  the stable ``id`` / ``externalId`` of every record). A failed batch leaves the cursor where it
  was; the next run (beat, every 30 s) sends it again.
- **One sender at a time.** A run claims its destination with a conditional update (a lease,
  ``SIEM_CLAIM_SECONDS``, refreshed after every batch); a second worker finds it claimed and returns.
  A worker that dies holding the claim delays the destination by the rest of the lease only. Cursor
  moves are conditional on the claim token as well, so a worker whose lease ran out cannot move a
  cursor behind its successor's back.
- A new destination, or a stream switched on later, starts at the stream's current end: it receives
  what happens from then on, not the whole history.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from cryptography import x509
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from siem import transports
from siem.formats import Record
from siem.models import SEVERITY_ORDER, SiemCursor, SiemDestination
from siem.streams import STREAMS, stable_high_water
from siem.transports import DeliveryFailed

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


@dataclass(frozen=True)
class DestinationSettings:
    """What an administrator sets on a destination. ``webhook_secret`` None keeps the stored secret,
    "" removes it."""

    name: str
    transport: str
    format: str = SiemDestination.Format.JSONL
    host: str = ""
    port: int | None = None
    tls_verify: bool = True
    tls_ca_pem: str = ""
    webhook_url: str = ""
    webhook_secret: str | None = None
    export_alerts: bool = True
    export_alert_updates: bool = True
    export_activities: bool = False
    min_severity: str = "informational"
    enabled: bool = True


def _validate(config: DestinationSettings, destination: SiemDestination | None) -> None:
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    name = config.name.strip()
    if not name:
        fail("name", "Enter a name.")
    elif (
        SiemDestination.objects.filter(name__iexact=name)
        .exclude(pk=getattr(destination, "pk", None))
        .exists()
    ):
        fail("name", f"A destination named '{name}' already exists.")
    if config.transport not in SiemDestination.Transport.values:
        fail("transport", "Choose how to send.")
    if config.format not in SiemDestination.Format.values:
        fail("format", "Choose a format.")
    if config.min_severity not in SEVERITY_ORDER:
        fail("min_severity", "Choose a severity.")
    if not (config.export_alerts or config.export_alert_updates or config.export_activities):
        fail("export_alerts", "Choose at least one thing to export.")
    if config.transport == SiemDestination.Transport.WEBHOOK:
        parts = urlsplit(config.webhook_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            fail("webhook_url", "Enter an http(s) URL, e.g. https://siem.example.com/ingest.")
    elif config.transport in SiemDestination.Transport.values:
        host = config.host.strip()
        if not host:
            fail("host", "Enter the syslog server's host name or IP address.")
        elif not _is_host(host):
            fail("host", f"{host} is not a host name or an IP address.")
        if config.port is None:
            fail("port", "Enter the syslog server's port (514 for UDP and TCP, 6514 for TLS).")
        elif not 1 <= config.port <= 65535:
            fail("port", "Enter a port between 1 and 65535.")
        if config.transport == SiemDestination.Transport.SYSLOG_TLS and config.tls_ca_pem.strip():
            try:
                x509.load_pem_x509_certificates(config.tls_ca_pem.strip().encode())
            except ValueError:
                fail("tls_ca_pem", "Paste the CA certificate in PEM form (-----BEGIN CERTIFICATE-----...).")
    if errors:
        raise ValidationError(errors)


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return bool(HOSTNAME.match(host))
    return True


def destination_save(
    *, config: DestinationSettings, by: AbstractBaseUser | None, destination: SiemDestination | None = None
) -> SiemDestination:
    """Create (``destination=None``) or change a destination. Raises ValidationError keyed by field.
    Streams switched on here start at their current end (see the module docstring)."""
    _validate(config, destination)
    webhook = config.transport == SiemDestination.Transport.WEBHOOK
    with transaction.atomic():
        if destination is None:
            destination = SiemDestination(created_by=by)
        else:
            destination = SiemDestination.objects.select_for_update().get(pk=destination.pk)
        destination.name = config.name.strip()
        destination.enabled = config.enabled
        destination.transport = config.transport
        destination.format = config.format
        destination.host = "" if webhook else config.host.strip()
        destination.port = None if webhook else config.port
        destination.tls_verify = config.tls_verify
        destination.tls_ca_pem = (
            config.tls_ca_pem.strip() if config.transport == SiemDestination.Transport.SYSLOG_TLS else ""
        )
        destination.webhook_url = config.webhook_url.strip() if webhook else ""
        if not webhook:
            destination.webhook_secret = ""
        elif config.webhook_secret is not None:
            destination.webhook_secret = config.webhook_secret
        destination.export_alerts = config.export_alerts
        destination.export_alert_updates = config.export_alert_updates
        destination.export_activities = config.export_activities
        destination.min_severity = config.min_severity
        destination.modified_by = by
        destination.save()
        _start_streams(destination)
    return destination


def _start_streams(destination: SiemDestination) -> None:
    """A cursor for each stream the destination exports, at the stream's end when it is new; a stream
    switched off loses its cursor, so switching it on again starts from then, not from a backlog."""
    off = [key for key, stream in STREAMS.items() if not stream.enabled(destination)]
    destination.cursors.filter(stream__in=off).delete()
    known = set(destination.cursors.values_list("stream", flat=True))
    for key, stream in STREAMS.items():
        if stream.enabled(destination) and key not in known:
            end = stream.model.objects.aggregate(top=Max("pk"))["top"] or 0
            SiemCursor.objects.create(destination=destination, stream=key, position=end)


def destination_set_enabled(*, destination: SiemDestination, enabled: bool, by: AbstractBaseUser) -> None:
    """Pause or resume a destination. Resuming continues from its cursors: nothing raised while it was
    paused is skipped."""
    SiemDestination.objects.filter(pk=destination.pk).update(
        enabled=enabled, modified_by=by, modified_at=timezone.now()
    )


def destination_delete(*, destination: SiemDestination) -> None:
    destination.delete()


# --------------------------------------------------------------------------------------------------
# Export


@dataclass
class ExportResult:
    sent: int = 0
    claimed: bool = True
    error: str = ""


def _claim(destination_id: int) -> str | None:
    now = timezone.now()
    token = secrets.token_hex(16)
    claimed = (
        SiemDestination.objects.filter(pk=destination_id, enabled=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claim_token=token, claimed_until=now + timedelta(seconds=settings.SIEM_CLAIM_SECONDS))
    )
    return token if claimed == 1 else None


def _still_ours(destination_id: int, token: str) -> bool:
    """Refresh the lease; False when it expired and another run took the destination over."""
    return (
        SiemDestination.objects.filter(pk=destination_id, claim_token=token).update(
            claimed_until=timezone.now() + timedelta(seconds=settings.SIEM_CLAIM_SECONDS)
        )
        == 1
    )


def destination_export(*, destination_id: int) -> ExportResult:
    """Send every stream of one destination up to its stable high-water mark, batch by batch
    (``SIEM_BATCH_SIZE`` records). Returns what was sent; a failure is recorded on the destination
    (``last_error``) and leaves the unsent batch for the next run."""
    token = _claim(destination_id)
    if token is None:
        return ExportResult(claimed=False)
    result = ExportResult()
    try:
        destination = SiemDestination.objects.get(pk=destination_id)
        for key, stream in STREAMS.items():
            if not stream.enabled(destination):
                continue
            high_water = stable_high_water(stream.model)
            if high_water is None:
                continue
            result.sent += _export_stream(destination, token, key, high_water)
    except DeliveryFailed as error:
        result.error = str(error)
        SiemDestination.objects.filter(pk=destination_id).update(
            last_error=result.error,
            last_error_at=timezone.now(),
            consecutive_failures=F("consecutive_failures") + 1,
        )
    else:
        SiemDestination.objects.filter(pk=destination_id).update(consecutive_failures=0)
    finally:
        SiemDestination.objects.filter(pk=destination_id, claim_token=token).update(
            claim_token="", claimed_until=None
        )
    return result


def _export_stream(destination: SiemDestination, token: str, key: str, high_water: int) -> int:
    stream = STREAMS[key]
    cursor, _ = SiemCursor.objects.get_or_create(destination=destination, stream=key)
    sent = 0
    while cursor.position < high_water:
        rows = list(stream.pending(destination, cursor.position, high_water)[: settings.SIEM_BATCH_SIZE])
        # A short batch holds every matching row up to the high-water mark; rows filtered out in
        # between (lower severities) are passed over with it.
        end = rows[-1].pk if len(rows) == settings.SIEM_BATCH_SIZE else high_water
        if rows:
            transports.deliver(destination, [stream.record(row) for row in rows])
        now = timezone.now()
        with transaction.atomic():
            moved = SiemCursor.objects.filter(
                pk=cursor.pk,
                position=cursor.position,
                destination__claim_token=token,
            ).update(
                position=end,
                records_sent=F("records_sent") + len(rows),
                last_sent_at=now if rows else F("last_sent_at"),
            )
            if moved != 1:
                return sent
            if rows:
                SiemDestination.objects.filter(pk=destination.pk).update(
                    last_sent_at=now, records_sent=F("records_sent") + len(rows)
                )
        cursor.position = end
        sent += len(rows)
        if not _still_ours(destination.pk, token):
            break
    return sent


def destination_send_test(*, destination: SiemDestination, by: AbstractBaseUser) -> None:
    """Send one test record through the destination's transport and format; raises DeliveryFailed
    with the reason. Cursors and delivery counts are not touched."""
    now = timezone.now()
    record = Record(
        msgid="test",
        time=now,
        signature_id="test",
        name="Defender for AWS test message",
        severity="informational",
        document={
            "type": "test",
            "id": f"test-{int(now.timestamp() * 1000)}",
            "time": now,
            "destination": destination.name,
            "sent_by": by.get_username(),
            "message": "Test message from Defender for AWS: this destination receives alerts.",
        },
        extension={
            "rt": now,
            "msg": "Test message from Defender for AWS: this destination receives alerts.",
            "duser": by.get_username(),
            "cs1Label": "destination",
            "cs1": destination.name,
        },
    )
    transports.deliver(destination, [record])
