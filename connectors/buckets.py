"""Inventory of a connected account's S3 buckets (Cloud apps > Files).

``buckets_scan`` reads every bucket with ListAllMyBuckets, GetBucketLocation and GetBucketAcl, and,
where the connector's policy permits, GetBucketPolicyStatus and GetPublicAccessBlock (the seed's IAM
policy does not grant those two: what could not be read is kept in ``Bucket.scan_errors`` and shown).
Once the scan is committed, the scanned buckets go to detection by task name
(``policies.detect_buckets``): connectors never import the policies app.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from botocore.exceptions import BotoCoreError, ClientError
from celery import current_app
from django.apps import apps
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from connectors import aws
from connectors.aws import ErrorKind
from connectors.ingestion.errors import TransientAwsError
from connectors.models import Bucket, Connector
from connectors.services import connector_credentials

log = logging.getLogger(__name__)

DETECT_TASK = "policies.detect_buckets"
DETECTION_CHUNK = 1000
GROUPS = "http://acs.amazonaws.com/groups/global/"
PUBLIC_GROUPS = {f"{GROUPS}AllUsers", f"{GROUPS}AuthenticatedUsers"}
# Answers that mean "nothing configured", not a failure.
NO_POLICY_CODES = {"NoSuchBucketPolicy"}
NO_BLOCK_CODES = {"NoSuchPublicAccessBlockConfiguration"}
# GetBucketLocation answers these for buckets made before the region was named as it is now.
LEGACY_LOCATIONS = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}
# What a scan writes on a bucket's row.
SCANNED_FIELDS = [
    "region",
    "created",
    "owner",
    "owner_id",
    "access",
    "grants",
    "policy_public",
    "public_access_block",
    "scan_errors",
    "public_since",
    "last_scanned",
]


class BucketGone(Exception):
    """The bucket was deleted between ListAllMyBuckets and reading it."""


def buckets_scan(*, connector_id: int) -> list[int] | None:
    """Re-read every bucket of a connected account; buckets gone from AWS are removed. Returns the ids
    of the buckets stored (handed to detection once committed), or None when the account could not be
    listed. Throttling, 5xx and network failures raise ``TransientAwsError``, for the task to retry."""
    connector = Connector.objects.filter(pk=connector_id, status=Connector.Status.CONNECTED).first()
    if connector is None:
        return None
    scanned: list[Bucket] = []
    try:
        s3 = RegionalClients(connector)
        for entry in s3().list_buckets().get("Buckets", []):
            try:
                scanned.append(_describe(s3, connector, entry))
            except BucketGone:
                continue
    except (ClientError, BotoCoreError) as error:
        failure = aws.classify(error)
        if failure.transient:
            raise TransientAwsError(str(failure)) from error
        log.warning("Bucket inventory of connector %s failed: %s", connector.pk, failure)
        return None
    with transaction.atomic():
        _keep_public_since(connector, scanned)
        Bucket.objects.filter(connector=connector).exclude(name__in=[b.name for b in scanned]).delete()
        Bucket.objects.bulk_create(
            scanned,
            update_conflicts=True,
            unique_fields=["connector", "name"],
            update_fields=SCANNED_FIELDS,
        )
        # bulk_create does not return ids of updated rows on every database: read them back.
        ids = list(Bucket.objects.filter(connector=connector).order_by("pk").values_list("pk", flat=True))
        transaction.on_commit(lambda: hand_to_detection(ids))
    return ids


def bucket_rescan(*, connector_id: int, name: str) -> Bucket | None:
    """Re-read one bucket now, for a change the portal itself made (a governance action or its revert)
    to show on the Files page at once rather than at the next hourly scan. Returns the stored bucket;
    None when the account could not be read, or the bucket is gone (its row is removed). Transient
    failures raise ``TransientAwsError`` as ``buckets_scan`` does."""
    connector = Connector.objects.filter(pk=connector_id, status=Connector.Status.CONNECTED).first()
    if connector is None:
        return None
    try:
        s3 = RegionalClients(connector)
        # ListAllMyBuckets is the only read that gives the creation date.
        entry = next((b for b in s3().list_buckets().get("Buckets", []) if b["Name"] == name), None)
        scanned = _describe(s3, connector, entry) if entry is not None else None
    except BucketGone:
        scanned = None
    except (ClientError, BotoCoreError) as error:
        failure = aws.classify(error)
        if failure.transient:
            raise TransientAwsError(str(failure)) from error
        log.warning("Rescan of bucket %s of connector %s failed: %s", name, connector.pk, failure)
        return None
    with transaction.atomic():
        if scanned is None:
            Bucket.objects.filter(connector=connector, name=name).delete()
            return None
        _keep_public_since(connector, [scanned])
        fields = {f: getattr(scanned, f) for f in SCANNED_FIELDS}
        bucket, _ = Bucket.objects.update_or_create(connector=connector, name=name, defaults=fields)
        transaction.on_commit(lambda: hand_to_detection([bucket.pk]))
    return bucket


def hand_to_detection(bucket_ids: list[int]) -> None:
    """Queue the file policies over the scanned buckets, by task name."""
    for start in range(0, len(bucket_ids), DETECTION_CHUNK):
        current_app.send_task(DETECT_TASK, args=[bucket_ids[start : start + DETECTION_CHUNK]])


class RegionalClients:
    """S3 clients of one connector, one per region, sharing one session (one role assumption)."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.credentials = connector_credentials(connector)
        self.session = aws.session(self.credentials, endpoint_url=connector.endpoint_url)
        self.clients: dict[str, object] = {}

    def __call__(self, region: str = aws.DEFAULT_REGION):
        if region not in self.clients:
            self.clients[region] = aws.client(
                "s3",
                self.credentials,
                region=region,
                endpoint_url=self.connector.endpoint_url,
                boto_session=self.session,
            )
        return self.clients[region]


def _keep_public_since(connector: Connector, scanned: list[Bucket]) -> None:
    """A bucket still public keeps the time it was first found public (its alert's identity); a bucket
    newly public starts a new exposure; a private one has none."""
    known = dict(
        Bucket.objects.select_for_update()
        .filter(connector=connector, name__in=[b.name for b in scanned])
        .values_list("name", "public_since")
    )
    for bucket in scanned:
        if bucket.access == Bucket.Access.PUBLIC:
            bucket.public_since = known.get(bucket.name) or bucket.last_scanned
        elif bucket.access == Bucket.Access.UNKNOWN:
            bucket.public_since = known.get(bucket.name)
        else:
            bucket.public_since = None


def _describe(s3, connector: Connector, entry: dict) -> Bucket:
    name = entry["Name"]
    errors: dict[str, str] = {}
    location = _read(lambda: s3().get_bucket_location(Bucket=name), "s3:GetBucketLocation", errors)
    constraint = location.get("LocationConstraint") if location is not None else None
    region = LEGACY_LOCATIONS.get(constraint, constraint) if location is not None else ""
    regional = s3(region or aws.DEFAULT_REGION)
    acl = _read(lambda: regional.get_bucket_acl(Bucket=name), "s3:GetBucketAcl", errors)
    status = _read(
        lambda: regional.get_bucket_policy_status(Bucket=name),
        "s3:GetBucketPolicyStatus",
        errors,
        absent=NO_POLICY_CODES,
    )
    block = _read(
        lambda: regional.get_public_access_block(Bucket=name),
        "s3:GetBucketPublicAccessBlock",
        errors,
        absent=NO_BLOCK_CODES,
    )
    public_access_block = None
    if block is not None:
        public_access_block = block.get("PublicAccessBlockConfiguration", {})
    policy_public = None
    if status is not None:
        policy_public = bool(status.get("PolicyStatus", {}).get("IsPublic", False))
    ignore_public_acls = bool((public_access_block or {}).get("IgnorePublicAcls"))
    owner = (acl or {}).get("Owner", {})
    bucket = Bucket(
        connector=connector,
        name=name,
        region=region,
        created=entry.get("CreationDate"),
        owner=(owner.get("DisplayName") or owner.get("ID") or "")[:256],
        owner_id=owner.get("ID", "")[:128],
        grants=[_grant(raw, ignore_public_acls) for raw in (acl or {}).get("Grants", [])],
        policy_public=policy_public,
        public_access_block=public_access_block,
        scan_errors=errors,
        last_scanned=timezone.now(),
    )
    if bucket.public_grants or bucket.policy_makes_public:
        bucket.access = Bucket.Access.PUBLIC
    elif acl is None:
        bucket.access = Bucket.Access.UNKNOWN
    else:
        bucket.access = Bucket.Access.PRIVATE
    return bucket


def _read(call, permission: str, errors: dict[str, str], *, absent: frozenset[str] | set[str] = frozenset()):
    """One read of a bucket: its answer; {} when ``absent`` says nothing is configured; None when it
    is not permitted or failed for good (the reason goes into ``errors``)."""
    try:
        return call()
    except ClientError as error:
        failure = aws.classify(error)
        if failure.code in absent:
            return {}
        if failure.code == "NoSuchBucket":
            raise BucketGone from error
        if failure.transient:
            raise
        if failure.kind == ErrorKind.ACCESS_DENIED:
            errors[permission] = f"Not permitted: {permission} is not granted ({failure})."
        else:
            errors[permission] = str(failure)
        return None


def _grant(raw: dict, ignore_public_acls: bool) -> dict:
    grantee = raw.get("Grantee", {})
    uri = grantee.get("URI", "")
    to_public_group = uri in PUBLIC_GROUPS
    return {
        "grantee": uri.removeprefix(GROUPS)
        if uri
        else grantee.get("DisplayName") or grantee.get("EmailAddress") or grantee.get("ID", ""),
        "grantee_type": grantee.get("Type", ""),
        "id": grantee.get("ID", ""),
        "uri": uri,
        "permission": raw.get("Permission", ""),
        "public": to_public_group and not ignore_public_acls,
        "ignored": to_public_group and ignore_public_acls,
    }


# --------------------------------------------------------------------------------------------------
# Reads (the Files page and /api/v1/buckets/)

BUCKET_SORTS = {
    "name",
    "-name",
    "region",
    "-region",
    "access",
    "-access",
    "owner",
    "-owner",
    "last_scanned",
    "-last_scanned",
}


def bucket_list(
    *, search: str = "", connector_id: str = "", access: str = "", region: str = "", sort: str = "name"
) -> QuerySet[Bucket]:
    """Buckets with their connector, filtered and sorted as on the Files page."""
    queryset = Bucket.objects.select_related("connector")
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(owner__icontains=search))
    if str(connector_id).isdigit():
        queryset = queryset.filter(connector_id=int(connector_id))
    if access in Bucket.Access.values:
        queryset = queryset.filter(access=access)
    if region:
        queryset = queryset.filter(region=region)
    return queryset.order_by(sort if sort in BUCKET_SORTS else "name", "pk")


def bucket_regions() -> list[str]:
    return list(Bucket.objects.order_by("region").values_list("region", flat=True).distinct())


def bucket_open_alerts(buckets: Iterable[Bucket]) -> dict[str, list[int]]:
    """Ids of the unresolved alerts of each bucket (by ``Bucket.alert_group_key``), newest first, in
    one query. Alerts are a higher layer's model, reached by name."""
    keys = [bucket.alert_group_key for bucket in buckets]
    if not keys:
        return {}
    alert_model = apps.get_model("alerts", "Alert")
    rows = (
        alert_model.objects.filter(group_key__in=keys)
        .exclude(status=alert_model.Status.RESOLVED)
        .order_by("-created_at", "-pk")
        .values_list("group_key", "pk")
    )
    found: dict[str, list[int]] = {}
    for group_key, pk in rows:
        found.setdefault(group_key, []).append(pk)
    return found


def buckets_scan_request(*, connector_id: int | None = None) -> int:
    """Scan now: queue a bucket scan of one connected account, or of every one. Returns how many."""
    from connectors.tasks import buckets_scan_task

    connectors = Connector.objects.filter(status=Connector.Status.CONNECTED)
    if connector_id is not None:
        connectors = connectors.filter(pk=connector_id)
    ids = list(connectors.values_list("pk", flat=True))
    for pk in ids:
        buckets_scan_task.delay_on_commit(pk)
    return len(ids)
