from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from alerts.models import Alert
from connectors.models import Connector
from policies.models import Policy


class GovernanceRun(models.Model):
    """One governance action on one target: a governance log entry (PRODUCT.md 8).

    Written only by ``governance.services``: created ``pending``, claimed into ``running`` by exactly
    one worker (a conditional update), then ``succeeded`` or ``failed``; a succeeded run of a
    revertible action can be ``reverted``. ``state`` keeps what the action replaced (the previous
    ACL, the keys it deactivated) so that revert restores exactly that.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REVERTED = "reverted", "Reverted"

    class TargetType(models.TextChoices):
        BUCKET = "bucket", "S3 bucket"
        USER = "user", "User"

    action = models.CharField(max_length=64, db_index=True, help_text="Key in the governance registry.")
    target_type = models.CharField(max_length=16, choices=TargetType.choices)
    target = models.CharField(max_length=512, help_text="Bucket name, or IAM user ARN (or user name).")
    connector = models.ForeignKey(
        Connector, null=True, blank=True, on_delete=models.SET_NULL, related_name="governance_runs"
    )
    parameters = models.JSONField(default=dict, blank=True)
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="governance_runs"
    )
    policy = models.ForeignKey(
        Policy,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="governance_runs",
        help_text="Set when the policy triggered the run automatically.",
    )
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="governance_runs",
        help_text="Set when a person ran the action.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    request_id = models.CharField("AWS request ID", max_length=200, blank=True)
    error = models.TextField(blank=True, help_text="Why the last attempt (or the revert) failed.")
    summary = models.TextField(blank=True, help_text="What the action changed, in words.")
    state = models.JSONField(default=dict, blank=True, help_text="What the action replaced, for revert.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    revert_requested_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reverted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="govrun_created"),
            models.Index(fields=["status", "started_at"], name="govrun_status_started"),
        ]
        constraints = [
            # A policy runs each of its actions on each target of an alert once, however often the
            # automatic trigger is delivered.
            models.UniqueConstraint(
                fields=["alert", "action", "target"],
                condition=Q(policy__isnull=False),
                name="govrun_automatic_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} on {self.target}"

    @property
    def is_active(self) -> bool:
        return self.status in {self.Status.PENDING, self.Status.RUNNING} or self.reverting

    @property
    def reverting(self) -> bool:
        return self.status == self.Status.SUCCEEDED and self.revert_requested_at is not None
