from django.conf import settings
from django.db import models


class Audited(models.Model):
    """Who created and last changed a configuration record, and when."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    modified_at = models.DateTimeField(auto_now=True)
    modified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        abstract = True


class Console(models.Model):
    """Holds the console's permissions; roles (auth groups) are made of these.

    No table: the model exists so the permissions have a content type to belong to.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_console", "See every page and record, change nothing"),
            ("operate", "Triage alerts, run governance actions, edit policies"),
            ("administer", "Manage connected apps, IP ranges, identity provider, users and roles"),
        ]

    def __str__(self) -> str:
        return "Console permissions"


class IpRange(Audited):
    """A named set of networks (Settings > IP address ranges). Activities from it get its category and
    tags at ingest; the most specific range wins where ranges nest."""

    class Category(models.TextChoices):
        CORPORATE = "corporate", "Corporate"
        ADMINISTRATIVE = "administrative", "Administrative"
        CLOUD_PROVIDER = "cloud_provider", "Cloud provider"
        VPN = "vpn", "VPN"
        RISKY = "risky", "Risky"
        OTHER = "other", "Other"

    name = models.CharField(max_length=128, unique=True)
    cidrs = models.JSONField(
        default=list, help_text="Normalized networks, e.g. ['203.0.113.0/24', '2001:db8::/32']."
    )
    category = models.CharField(max_length=32, choices=Category.choices)
    tags = models.JSONField(default=list, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="Location override: ISO country code.")
    city = models.CharField(max_length=128, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    isp = models.CharField(max_length=256, blank=True, help_text="ISP override.")
    # Indexed: the ranges page sorts by it.
    modified_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "IP address range"

    def __str__(self) -> str:
        return self.name

    @property
    def has_location_override(self) -> bool:
        return bool(self.country or self.city or self.latitude is not None)


class ThreatFeed(Audited):
    """A list of IP addresses and networks from a threat-intelligence source, loaded from a URL on a
    schedule or from an uploaded file. Its entries carry the kind's tag (a contract the anomaly
    detectors rely on, see defender.ipintel.tags) and the feed's own tag."""

    class Kind(models.TextChoices):
        TOR_EXIT_NODES = "tor_exit_nodes", "Tor exit nodes"
        ANONYMOUS_PROXY = "anonymous_proxy", "Anonymous proxies"
        ANONYMIZING_VPN = "anonymizing_vpn", "Anonymizing VPNs"
        BOTNET = "botnet", "Botnet and command-and-control"
        SCANNER = "scanner", "Scanners"
        PASSWORD_SPRAY = "password_spray", "Password spray sources"
        OTHER = "other", "Other"

    name = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    tag = models.CharField(max_length=64, help_text="Tag applied to activities from the feed's entries.")
    url = models.URLField(max_length=1024, blank=True, help_text="Refreshed every 6 hours when set.")
    enabled = models.BooleanField(default=True)
    entry_count = models.PositiveIntegerField(default=0)
    last_loaded_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_load_summary = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ThreatFeedEntry(models.Model):
    """One network of a feed, normalized; a single address is stored as /32 or /128."""

    feed = models.ForeignKey(ThreatFeed, on_delete=models.CASCADE, related_name="entries")
    network = models.CharField(max_length=43)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["feed", "network"], name="threatfeedentry_unique_per_feed")
        ]
        verbose_name_plural = "threat feed entries"

    def __str__(self) -> str:
        return self.network


class AuditEntry(models.Model):
    """One security-relevant event (Settings > Audit log): who did what to which record, when, from
    which IP. Written only by ``defender.audit.audit_record``; never changed afterwards."""

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept apart from the foreign key: the name survives the user's deletion, and a failed sign-in
    # records the user name that was tried, which may belong to no account.
    actor_name = models.CharField(max_length=150, blank=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="auditentry_recent"),
            # The sign-in lockout counts recent failures per user name and IP.
            models.Index(fields=["action", "actor_name", "ip", "at"], name="auditentry_signin"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action} {self.target_label}"


class ApiToken(models.Model):
    """A personal access token for /api/v1/ (user menu > API tokens). Only the SHA-256 of the secret is
    kept: the secret is shown once, when the token is created. A request made with it acts as its user,
    with that user's role at the time of the request."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'SOAR playbooks'.")
    # The secret's first characters, so people can tell their tokens apart; never enough to use one.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
