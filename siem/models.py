"""Where the SIEM export sends alerts and activities, and how far each destination has read.

See ``siem.services`` for the cursor and delivery guarantees.
"""

from django.db import models

from defender import crypto
from defender.models import Audited
from policies.models import Policy

# Severities from the least to the most severe: a destination's minimum keeps this one and those after.
SEVERITY_ORDER = ("informational", "low", "medium", "high")


class SiemDestination(Audited):
    """A syslog server or webhook receiving the portal's alerts (and optionally activities)."""

    class Transport(models.TextChoices):
        SYSLOG_UDP = "syslog_udp", "Syslog over UDP"
        SYSLOG_TCP = "syslog_tcp", "Syslog over TCP"
        SYSLOG_TLS = "syslog_tls", "Syslog over TLS"
        WEBHOOK = "webhook", "Webhook (HTTPS POST)"

    class Format(models.TextChoices):
        JSONL = "jsonl", "JSON lines"
        CEF = "cef", "CEF (Common Event Format)"

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    transport = models.CharField(max_length=16, choices=Transport.choices, default=Transport.SYSLOG_TCP)
    host = models.CharField(max_length=255, blank=True, help_text="Syslog: host name or IP address.")
    port = models.PositiveIntegerField(null=True, blank=True, help_text="Syslog: port.")
    tls_verify = models.BooleanField(
        "verify the server certificate", default=True, help_text="Syslog over TLS."
    )
    tls_ca_pem = models.TextField(
        "CA certificate", blank=True, help_text="Syslog over TLS: PEM of a private CA to trust."
    )
    webhook_url = models.URLField("webhook URL", max_length=1024, blank=True)
    # Encrypted like connector secrets, and re-encrypted by key rotation with them.
    webhook_secret_encrypted = crypto.EncryptedTextField()
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSONL)
    export_alerts = models.BooleanField("new alerts", default=True)
    export_alert_updates = models.BooleanField("alert updates", default=True)
    export_activities = models.BooleanField("activities", default=False)
    min_severity = models.CharField(
        "minimum alert severity",
        max_length=16,
        choices=Policy.Severity.choices,
        default=Policy.Severity.INFORMATIONAL,
    )

    # One export run at a time per destination: a lease that the running worker refreshes per batch.
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    records_sent = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def webhook_secret(self) -> str:
        return crypto.decrypt(self.webhook_secret_encrypted) if self.webhook_secret_encrypted else ""

    @webhook_secret.setter
    def webhook_secret(self, value: str) -> None:
        self.webhook_secret_encrypted = crypto.encrypt(value) if value else ""

    @property
    def is_syslog(self) -> bool:
        return self.transport != self.Transport.WEBHOOK

    @property
    def target(self) -> str:
        if self.is_syslog:
            return f"{self.host}:{self.port}"
        return self.webhook_url

    @property
    def severities(self) -> tuple[str, ...]:
        return SEVERITY_ORDER[SEVERITY_ORDER.index(self.min_severity) :]

    @property
    def is_failing(self) -> bool:
        return self.consecutive_failures > 0


class SiemCursor(models.Model):
    """How far one destination has sent one stream: every row of the stream with an id up to
    ``position`` has been delivered (or filtered out)."""

    class Stream(models.TextChoices):
        ALERTS = "alerts", "New alerts"
        ALERT_UPDATES = "alert_updates", "Alert updates"
        ACTIVITIES = "activities", "Activities"

    destination = models.ForeignKey(SiemDestination, on_delete=models.CASCADE, related_name="cursors")
    stream = models.CharField(max_length=16, choices=Stream.choices)
    position = models.BigIntegerField(default=0)
    records_sent = models.BigIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["destination", "stream"]
        constraints = [
            models.UniqueConstraint(fields=["destination", "stream"], name="siemcursor_unique_stream")
        ]

    def __str__(self) -> str:
        return f"{self.destination} {self.stream} @ {self.position}"
