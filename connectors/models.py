from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from defender import crypto
from defender.models import Audited


class Connector(Audited):
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
    secret_access_key_encrypted = crypto.EncryptedTextField()
    role_arn = models.CharField("role ARN", max_length=300, blank=True)
    external_id = models.CharField("external ID", max_length=128, blank=True)
    regions = models.JSONField(default=list, blank=True, help_text="Empty: every enabled region.")
    endpoint_url = models.CharField("endpoint URL", max_length=300, blank=True)
    history_days = models.PositiveSmallIntegerField(choices=HistoryDays.choices, default=HistoryDays.WEEK)

    class IngestMode(models.TextChoices):
        LOOKUP_EVENTS = "lookup_events", "CloudTrail LookupEvents API"
        S3_TRAIL = "s3_trail", "CloudTrail log files in S3"

    ingest_mode = models.CharField(
        max_length=20, choices=IngestMode.choices, default=IngestMode.LOOKUP_EVENTS
    )
    trail_bucket = models.CharField(
        max_length=63, blank=True, help_text="S3 trail-file mode: the trail's bucket."
    )
    trail_prefix = models.CharField(
        max_length=300, blank=True, help_text="S3 trail-file mode: key prefix, if any."
    )

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
    # Set on a new LookupEvents connector: LookupEvents answers newest first, and detectors must see
    # history oldest first (baselines, learning periods), so detection waits for the whole history
    # import and then walks it in time order (connectors.ingestion.history).
    detection_held = models.BooleanField(default=False)

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


class IngestCheckpoint(models.Model):
    """How far ingestion has read one region of one connector.

    ``position`` only moves forward after the activities up to it are committed, so a killed worker
    re-reads (and the unique constraint drops) rather than loses.
    """

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="checkpoints")
    region = models.CharField(max_length=32)
    position = models.DateTimeField(null=True, blank=True, help_text="Events up to here are stored.")
    last_key = models.CharField(max_length=1024, blank=True, help_text="S3 mode: last trail file read.")
    backfill_start = models.DateTimeField(null=True, blank=True)
    backfill_end = models.DateTimeField(null=True, blank=True)
    backfill_reached = models.DateTimeField(null=True, blank=True, help_text="Oldest event time read so far.")
    backfill_done = models.BooleanField(default=False)
    region_disabled_until = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    running_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "region"], name="checkpoint_unique_region"),
        ]

    def __str__(self) -> str:
        return f"{self.connector} {self.region}"

    @property
    def backfill_fraction(self) -> float:
        if self.backfill_done:
            return 1.0
        if not (self.backfill_start and self.backfill_end and self.backfill_reached):
            return 0.0
        total = (self.backfill_end - self.backfill_start).total_seconds()
        done = (self.backfill_end - self.backfill_reached).total_seconds()
        return max(0.0, min(1.0, done / total)) if total > 0 else 1.0


class TrailFileRead(models.Model):
    """A CloudTrail log file already ingested (S3 trail-file mode), so it is never read twice."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="trail_files")
    key = models.CharField(max_length=1024)
    records = models.PositiveIntegerField(default=0)
    read_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "key"], name="trailfile_unique_key")]

    def __str__(self) -> str:
        return self.key


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


class Activity(models.Model):
    """One CloudTrail event of a connected account, normalized and enriched at ingest."""

    class PrincipalType(models.TextChoices):
        IAM_USER = "IAMUser", "IAM user"
        ASSUMED_ROLE = "AssumedRole", "Assumed role"
        FEDERATED_USER = "FederatedUser", "Federated user"
        ROOT = "Root", "Root"
        AWS_SERVICE = "AWSService", "AWS service"
        AWS_ACCOUNT = "AWSAccount", "AWS account"
        IDENTITY_CENTER_USER = "IdentityCenterUser", "Identity Center user"
        UNKNOWN = "Unknown", "Unknown"

    # No index of its own: the unique (connector, event_id) index leads with it, and every index costs
    # ingestion time. No database constraint either: PostgreSQL would check every inserted row against
    # the connector table (about a tenth of ingestion's database time). Django deletes a connector's
    # activities as before, and no row outlives its connector: storing a batch updates the connector's
    # row in the same transaction and rolls back when it has gone (connectors.ingestion.store), and
    # connector_delete locks that row before it collects the activities.
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="activities", db_index=False, db_constraint=False
    )
    event_id = models.CharField(max_length=64)
    event_time = models.DateTimeField()
    event_name = models.CharField(max_length=128)
    event_source = models.CharField(max_length=128)
    service = models.CharField(max_length=64, help_text="Short service name, e.g. ec2, s3, iam.")
    event_type = models.CharField(max_length=64, blank=True)
    region = models.CharField(max_length=32, blank=True)
    recipient_account_id = models.CharField(max_length=12, blank=True)

    source_ip = models.CharField(
        max_length=255, blank=True, help_text="sourceIPAddress as recorded: an IP, or an AWS service name."
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)

    principal = models.CharField(max_length=512, help_text="Stable key: user ARN, assumed-role ARN, root.")
    principal_name = models.CharField(max_length=256, blank=True)
    principal_type = models.CharField(max_length=32, choices=PrincipalType.choices)
    access_key_id = models.CharField(max_length=128, blank=True)

    read_only = models.BooleanField(default=False)
    administrative = models.BooleanField(default=False)
    succeeded = models.BooleanField(default=True)
    error_code = models.CharField(max_length=128, blank=True)
    error_message = models.TextField(blank=True)
    console_login = models.CharField(max_length=16, blank=True, help_text="Success / Failure for sign-ins.")
    mfa_used = models.BooleanField(null=True, blank=True)

    resources = models.JSONField(default=list, blank=True)
    request_parameters = models.JSONField(null=True, blank=True)
    raw = models.JSONField()

    country = models.CharField(max_length=2, blank=True)
    city = models.CharField(max_length=128, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    asn = models.PositiveIntegerField(null=True, blank=True)
    isp = models.CharField(max_length=256, blank=True)
    ip_category = models.CharField(max_length=32, blank=True)
    ip_tags = models.JSONField(default=list, blank=True)

    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "event_id"], name="activity_unique_event_per_connector"
            )
        ]
        indexes = [
            models.Index(fields=["-event_time", "-id"], name="activity_time"),
            models.Index(fields=["principal", "-event_time"], name="activity_principal_time"),
            # The activity log's principal filter matches a name case-insensitively (filters.py).
            models.Index(
                Upper("principal_name"),
                models.F("event_time").desc(),
                models.F("id").desc(),
                name="activity_principal_name_time",
            ),
            # Only the rows an IP range or feed categorized: most activity has no category, so the index
            # is small and costs an insert nothing. PostgreSQL also keeps a partial GIN index on ip_tags
            # (migration 0010), which SQLite cannot have.
            models.Index(
                fields=["ip_category", "-event_time", "-id"],
                condition=~models.Q(ip_category=""),
                name="activity_ip_category_time",
            ),
            models.Index(fields=["ip_address", "-event_time"], name="activity_ip_time"),
            models.Index(fields=["event_name", "-event_time"], name="activity_event_time"),
            models.Index(fields=["service", "-event_time"], name="activity_service_time"),
            models.Index(fields=["country", "-event_time"], name="activity_country_time"),
            # No (connector, event_time) index: the unique constraint above and the foreign key's index
            # find a small account's rows, and a large account's rows are dense in activity_time. Each
            # index costs every insert.
        ]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.event_name} by {self.principal_name or self.principal}"


class RejectedRecord(models.Model):
    """A CloudTrail record that could not be normalized: kept aside for inspection, never lost."""

    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, null=True, blank=True, related_name="rejected_records"
    )
    source = models.CharField(max_length=512, help_text="Where it came from: region, S3 key or file.")
    error = models.TextField()
    record = models.TextField(help_text="The record as received (truncated past 1 MB).")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.source}: {self.error}"


class PendingDetection(models.Model):
    """Stored activities whose detection is not known to be done: written in the transaction that
    stores them, deleted by detection once their alerts are raised, and sent again by a janitor if the
    worker died between the commit and the send (or during detection)."""

    activity_ids = models.JSONField()
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{len(self.activity_ids)} activities sent at {self.sent_at:%Y-%m-%d %H:%M:%S}"


class SavedQuery(models.Model):
    """A named set of activity log filters, private to its owner or shared with everyone."""

    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000, help_text="The filters, as a URL query string.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queries"
    )
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="savedquery_unique_name")]

    def __str__(self) -> str:
        return self.name


class IamUser(models.Model):
    """An IAM user of a connected account, from iam:ListUsers and its related calls."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="iam_users")
    user_name = models.CharField(max_length=128)
    arn = models.CharField(max_length=512)
    user_id = models.CharField(max_length=128, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    password_last_used = models.DateTimeField(null=True, blank=True)
    console_access = models.BooleanField(default=False)
    mfa_enabled = models.BooleanField(default=False)
    access_keys = models.JSONField(default=list, blank=True, help_text="[{id, status, created, last_used}]")
    email = models.EmailField(blank=True, help_text="From the user's IAM tag `email`.")
    tags = models.JSONField(default=dict, blank=True)
    last_scanned = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_name"]
        constraints = [models.UniqueConstraint(fields=["connector", "arn"], name="iamuser_unique_arn")]

    def __str__(self) -> str:
        return self.user_name

    @property
    def active_keys(self) -> int:
        return sum(1 for key in self.access_keys if key.get("status") == "Active")


class DirectoryUser(Audited):
    """A person in the identity provider: the built-in directory, or one synchronized from Entra ID."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        TERMINATED = "terminated", "Terminated"

    class Source(models.TextChoices):
        BUILTIN = "builtin", "Built-in directory"
        ENTRA_ID = "entra_id", "Microsoft Entra ID"

    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.BUILTIN)
    external_id = models.CharField(max_length=128, blank=True, help_text="The user's ID in Entra ID.")

    class Meta:
        ordering = ["display_name", "email"]

    def __str__(self) -> str:
        return self.display_name or self.email


class PrincipalMapping(Audited):
    """An explicit link from an AWS principal to a directory user, for principals whose session name,
    IAM `email` tag or user name does not say who they are."""

    principal = models.CharField(max_length=512, unique=True)
    directory_user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="mappings")

    def __str__(self) -> str:
        return f"{self.principal} -> {self.directory_user}"


class EntraConnection(Audited):
    """The installation's Microsoft Entra ID tenant (one at most: its primary key is always 1), read
    through Microsoft Graph with an app registration's client credentials."""

    SINGLETON_PK = 1
    DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
    DEFAULT_LOGIN_BASE_URL = "https://login.microsoftonline.com"

    class Status(models.TextChoices):
        PENDING = "pending", "Not synchronized yet"
        CONNECTED = "connected", "Connected"
        ERROR = "error", "Error"

    tenant_id = models.CharField("tenant ID", max_length=64)
    client_id = models.CharField("client ID", max_length=64)
    client_secret_encrypted = crypto.EncryptedTextField()
    graph_base_url = models.URLField("Graph base URL", max_length=300, default=DEFAULT_GRAPH_BASE_URL)
    login_base_url = models.URLField("sign-in base URL", max_length=300, default=DEFAULT_LOGIN_BASE_URL)
    enabled = models.BooleanField(default=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    last_error = models.TextField(blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True, help_text="End of the last successful sync.")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sync_running_since = models.DateTimeField(null=True, blank=True)
    sync_counts = models.JSONField(
        default=dict,
        blank=True,
        help_text="Last successful sync: users seen, created, updated, terminated...",
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="entraconnection_singleton")]

    def __str__(self) -> str:
        return f"Entra ID tenant {self.tenant_id}"

    @property
    def client_secret(self) -> str:
        return crypto.decrypt(self.client_secret_encrypted) if self.client_secret_encrypted else ""

    @client_secret.setter
    def client_secret(self, value: str) -> None:
        self.client_secret_encrypted = crypto.encrypt(value) if value else ""


class Bucket(models.Model):
    """An S3 bucket of a connected account, from the bucket inventory scan (``connectors.buckets``):
    ListAllMyBuckets, GetBucketLocation, GetBucketAcl and, where permitted, GetBucketPolicyStatus and
    GetPublicAccessBlock."""

    class Access(models.TextChoices):
        PRIVATE = "private", "Private"
        PUBLIC = "public", "Public"
        UNKNOWN = "unknown", "Unknown"

    # The reads of a scan, by the permission each needs, as the Files page names what it could not read.
    SCAN_READS = {
        "s3:GetBucketLocation": "region",
        "s3:GetBucketAcl": "ACL",
        "s3:GetBucketPolicyStatus": "policy status",
        "s3:GetBucketPublicAccessBlock": "public access block",
    }

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="buckets")
    name = models.CharField(max_length=63)
    region = models.CharField(max_length=32, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    owner = models.CharField(max_length=256, blank=True, help_text="The ACL owner's display name or ID.")
    owner_id = models.CharField("owner canonical ID", max_length=128, blank=True)
    access = models.CharField(max_length=16, choices=Access.choices, default=Access.UNKNOWN, db_index=True)
    grants = models.JSONField(
        default=list, blank=True, help_text="[{grantee, grantee_type, id, uri, permission, public}]"
    )
    policy_public = models.BooleanField(
        null=True, blank=True, help_text="GetBucketPolicyStatus IsPublic; unknown when not permitted."
    )
    public_access_block = models.JSONField(
        null=True, blank=True, help_text="The bucket's public access block; {} when none is set."
    )
    scan_errors = models.JSONField(
        default=dict, blank=True, help_text="What could not be read, by permission: AWS's error."
    )
    public_since = models.DateTimeField(
        null=True, blank=True, help_text="First scan that found the bucket public, since it last was private."
    )
    last_scanned = models.DateTimeField()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["connector", "name"], name="bucket_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def public_grants(self) -> list[dict]:
        """ACL grants to everyone or to any AWS account that the public access block does not ignore."""
        return [grant for grant in self.grants if grant.get("public")]

    @property
    def policy_makes_public(self) -> bool:
        """The bucket policy is public and the public access block does not restrict it."""
        return bool(self.policy_public) and not (self.public_access_block or {}).get("RestrictPublicBuckets")

    @property
    def unread(self) -> list[str]:
        """What the scan could not read (not permitted, or failed), in words."""
        return [self.SCAN_READS.get(permission, permission) for permission in self.scan_errors]

    @property
    def alert_group_key(self) -> str:
        """What the public-bucket policy's alerts of this bucket share: one open alert per bucket."""
        return f"bucket:{self.connector_id}:{self.name}"
