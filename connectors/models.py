from django.conf import settings
from django.db import models

from defender import crypto


class Connector(models.Model):
    """A connected AWS account (Security auditing: CloudTrail activity and inventory)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CONNECTED = "connected", "Connected"
        ERROR = "error", "Error"
        DISABLED = "disabled", "Disabled"

    class AuthMethod(models.TextChoices):
        ACCESS_KEYS = "access_keys", "Access keys of an IAM user"
        ASSUME_ROLE = "assume_role", "IAM role assumed by the portal"

    class HistoryDays(models.IntegerChoices):
        WEEK = 7, "Last 7 days"
        MONTH = 30, "Last 30 days"
        QUARTER = 90, "Last 90 days (all that CloudTrail keeps)"

    name = models.CharField("instance name", max_length=100, unique=True)
    account_id = models.CharField("account ID", max_length=12, blank=True)
    caller_arn = models.CharField(max_length=300, blank=True)
    auth_method = models.CharField(max_length=20, choices=AuthMethod.choices, default=AuthMethod.ACCESS_KEYS)
    access_key_id = models.CharField("access key ID", max_length=128, blank=True)
    secret_access_key_encrypted = models.TextField(blank=True, editable=False)
    role_arn = models.CharField("role ARN", max_length=300, blank=True)
    external_id = models.CharField("external ID", max_length=128, blank=True)
    regions = models.JSONField(default=list, blank=True, help_text="Empty: every enabled region.")
    endpoint_url = models.CharField("endpoint URL", max_length=300, blank=True)
    history_days = models.PositiveSmallIntegerField(choices=HistoryDays.choices, default=HistoryDays.WEEK)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    status_reason = models.TextField(blank=True)
    governance_enabled = models.BooleanField(default=False)
    governance_reason = models.TextField(blank=True)
    logs_all_regions = models.BooleanField(null=True)
    validation_report = models.JSONField(default=list, blank=True)

    connected_at = models.DateTimeField(null=True, blank=True)
    last_health_check = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    events_ingested = models.BigIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    modified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def secret_access_key(self) -> str:
        return crypto.decrypt(self.secret_access_key_encrypted) if self.secret_access_key_encrypted else ""

    @secret_access_key.setter
    def secret_access_key(self, value: str) -> None:
        self.secret_access_key_encrypted = crypto.encrypt(value) if value else ""

    @property
    def is_enabled(self) -> bool:
        return self.status != self.Status.DISABLED


class ConnectorEvent(models.Model):
    """Something that happened to a connector: a status change, a health check that failed, a sync."""

    class Level(models.TextChoices):
        INFO = "info", "Information"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.message
