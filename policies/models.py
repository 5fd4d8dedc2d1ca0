from django.conf import settings as conf
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from defender.models import Audited

MAX_REPEAT_COUNT = 10_000
MAX_REPEAT_MINUTES = 24 * 60


class Policy(Audited):
    """An activity, anomaly detection or file policy (PRODUCT.md 6).

    Matching is the engine's (``policies.engine``); this row holds what a person configured. Writes go
    through ``policies.services.policy_save``, which keeps the change history and ``active_since``;
    created/modified by and at come from ``Audited``.
    """

    class Type(models.TextChoices):
        ACTIVITY = "activity", "Activity policy"
        ANOMALY = "anomaly", "Anomaly detection policy"
        FILE = "file", "File policy"

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        INFORMATIONAL = "informational", "Informational"

    class MatchMode(models.TextChoices):
        SINGLE = "single", "Single activity"
        REPEATED = "repeated", "Repeated activity"

    class GroupBy(models.TextChoices):
        NONE = "", "Any activities"
        PRINCIPAL = "principal", "Same principal"
        IP = "ip", "Same IP address"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.ACTIVITY)
    template_key = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="The built-in template; blank for a custom policy.",
    )
    enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MEDIUM)
    category = models.CharField(max_length=64, blank=True)
    mitre_tactic = models.CharField("MITRE ATT&CK tactic", max_length=64, blank=True)
    mitre_technique = models.CharField("MITRE ATT&CK technique", max_length=128, blank=True)

    scope_include = models.JSONField(
        default=list, blank=True, help_text="Principal keys, key prefixes ending in *, names or group:<name>."
    )
    scope_exclude = models.JSONField(default=list, blank=True, help_text="Same entries; exclude wins.")
    filters = models.JSONField(default=list, blank=True, help_text='[{"field", "operator", "values"}]')
    match_mode = models.CharField(max_length=16, choices=MatchMode.choices, default=MatchMode.SINGLE)
    repeat_count = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(MAX_REPEAT_COUNT)]
    )
    repeat_minutes = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(MAX_REPEAT_MINUTES)]
    )
    repeat_group_by = models.CharField(
        max_length=16, choices=GroupBy.choices, default=GroupBy.NONE, blank=True
    )
    settings = models.JSONField(default=dict, blank=True, help_text="Anomaly sensitivity and thresholds.")

    create_alert = models.BooleanField(default=True)
    daily_alert_limit = models.PositiveIntegerField(default=100, validators=[MinValueValidator(1)])
    email_recipients = models.JSONField(default=list, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    governance_actions = models.JSONField(
        default=list, blank=True, help_text="Keys of governance actions (the governance app's registry)."
    )
    governance_automatic = models.BooleanField(default=False)

    active_since = models.DateTimeField(
        default=timezone.now,
        help_text="Only activities ingested from this time on raise alerts; moved when matching changes.",
    )
    suppressed_today = models.PositiveIntegerField(
        default=0, help_text="Findings dropped by the daily alert limit on suppressed_on."
    )
    suppressed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        indexes = [models.Index(fields=["enabled", "type"], name="policy_enabled_type")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return bool(self.template_key)

    def suppressed_on_day(self, day) -> int:
        """Findings dropped by the daily limit on ``day`` (a date in the server's time zone)."""
        return self.suppressed_today if self.suppressed_on == day else 0


class PolicyChange(models.Model):
    """One save of a policy: who, when, and each changed field as [old, new]."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.UPDATED)
    changed_by = models.ForeignKey(
        conf.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.policy} {self.action} {self.changed_at:%Y-%m-%d %H:%M}"


class DetectorState(models.Model):
    """The state an anomaly detector keeps for one policy between batches (baselines, learning
    start, open suppressions), as the detector's JSON-serializable dict."""

    policy = models.OneToOneField(Policy, on_delete=models.CASCADE, related_name="detector_state")
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"State of {self.policy}"
