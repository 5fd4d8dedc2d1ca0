from django.conf import settings
from django.db import models
from django.db.models import Case, Value, When
from django.db.models.functions import Upper
from django.utils import timezone

from connectors.models import Activity, Connector
from policies.models import Policy

# A policy's type, or "system" for the portal's own alerts (a connected account in error).
ALERT_TYPE_CHOICES = [*Policy.Type.choices, ("system", "System")]
# Severities compare by rank, not by their names ("high" < "informational" < "low" < "medium").
SEVERITY_RANKS = {
    Policy.Severity.INFORMATIONAL: 1,
    Policy.Severity.LOW: 2,
    Policy.Severity.MEDIUM: 3,
    Policy.Severity.HIGH: 4,
}


class Alert(models.Model):
    """Something a policy found, to triage (PRODUCT.md 7). Raised only by ``alerts.services``."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        RESOLVED = "resolved", "Resolved"

    class Classification(models.TextChoices):
        TRUE_POSITIVE = "true_positive", "True positive"
        BENIGN = "benign", "Benign true positive"
        FALSE_POSITIVE = "false_positive", "False positive"

    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=16, choices=Policy.Severity.choices, db_index=True)
    # Stored by the database from ``severity`` so that the severity sort and the dashboard's "to triage"
    # list walk an index instead of ranking every alert on each request.
    severity_rank = models.GeneratedField(
        expression=Case(
            *[When(severity=severity, then=Value(rank)) for severity, rank in SEVERITY_RANKS.items()],
            default=Value(0),
        ),
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
    )
    policy = models.ForeignKey(
        Policy, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    type = models.CharField(max_length=16, choices=ALERT_TYPE_CHOICES, default=Policy.Type.ACTIVITY)
    connector = models.ForeignKey(
        Connector, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    principal = models.CharField(max_length=512, blank=True)
    principal_name = models.CharField(max_length=256, blank=True)
    group_key = models.CharField(
        max_length=600,
        blank=True,
        help_text="principal:<key>, ip:<address> or blank: what later findings extend.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    evidence = models.JSONField(default=dict, blank=True)
    mitre_tactic = models.CharField(max_length=64, blank=True)
    ips = models.JSONField(default=list, blank=True)
    countries = models.JSONField(default=list, blank=True)
    activities = models.ManyToManyField(Activity, blank=True, related_name="alerts")
    activity_count = models.PositiveIntegerField(default=0)
    first_activity_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(auto_now=True)
    dedup_key = models.CharField(
        max_length=64, unique=True, help_text="Policy + what it found: detection run twice raises one alert."
    )
    # Triage (PRODUCT.md 7): written only by the alert_* services, each recording an AlertEvent.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_alerts",
    )
    classification = models.CharField(
        max_length=16, choices=Classification.choices, blank=True, help_text="Set when resolved."
    )
    resolution_comment = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    read_by = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="read_alerts",
        help_text="Who opened the alert page: unread alerts stand out in their queue.",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # Severity last: the dashboard's alerts-over-time chart counts from this index alone.
            models.Index(fields=["-created_at", "-id", "severity"], name="alert_created"),
            models.Index(fields=["policy", "created_at"], name="alert_policy_created"),
            models.Index(fields=["policy", "group_key", "-last_activity_at"], name="alert_policy_group"),
            models.Index(fields=["-severity_rank", "-created_at", "-id"], name="alert_severity_rank"),
            # The counts of the queue and the dashboard read these columns only (an index-only scan on
            # PostgreSQL), never the alerts' rows.
            models.Index(
                fields=["status", "severity", "policy", "connector", "assigned_to"],
                name="alert_status_counts",
            ),
            # Top principals by open alerts read this index only; its leading column serves the
            # principal filter's exact key.
            models.Index(
                fields=["principal", "status", "severity", "principal_name"], name="alert_principal"
            ),
            # The principal filter matches a name case-insensitively (connectors.filters.principal_condition).
            models.Index(Upper("principal_name"), name="alert_principal_name"),
        ]

    def __str__(self) -> str:
        return self.title


class AlertEvent(models.Model):
    """One entry of an alert's history: who did what to it, and when (comments included)."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS_CHANGED = "status_changed", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        COMMENTED = "commented", "Commented"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"
        NOTIFIED = "notified", "Notified"
        GOVERNANCE = "governance", "Governance action"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["alert", "created_at"], name="alertevent_alert_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.alert_id}"
