"""File policies over the bucket inventory (PRODUCT.md 6.3): bucket facts in, findings out. Pure.

``evaluate_buckets`` runs the ``file_s3_bucket_public`` policies over ``BucketFacts`` (built from
``connectors.Bucket`` rows by the alerts app's detect task, or from any other source). A policy's
filters apply to a bucket read as an activity-like mapping: ``connector`` (name), ``region``,
``recipient_account_id`` (account ID) and ``resource`` (the bucket name, type ``AWS::S3::Bucket``).

A finding is one exposure of one bucket: its key names the bucket and the time a scan first found it
public, so every later scan of the same exposure finds the same alert, and a bucket made private and
public again is a new exposure (a new alert once the first is resolved). Its group is the bucket
and it extends any open alert of the group: one open alert per bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from policies.engine.findings import Finding, iso
from policies.engine.spec import TYPE_FILE, CompiledPolicy

PUBLIC_BUCKET = "file_s3_bucket_public"
S3_BUCKET = "AWS::S3::Bucket"
# Who a public ACL grant opens the bucket to, in words.
AUDIENCES = {"AllUsers": "everyone (AllUsers)", "AuthenticatedUsers": "any AWS account (AuthenticatedUsers)"}


@dataclass(frozen=True)
class BucketFacts:
    """What the inventory knows of one bucket. ``public_grants`` are the ACL grants to AllUsers or
    AuthenticatedUsers that the public access block does not ignore ({"grantee", "permission", ...});
    ``policy_public`` whether the bucket policy makes it public (None: not readable)."""

    name: str
    connector_id: int | None
    connector: str
    group_key: str
    scanned_at: datetime
    account_id: str = ""
    region: str = ""
    owner: str = ""
    public: bool = False
    public_since: datetime | None = None
    public_grants: tuple[Mapping[str, Any], ...] = ()
    policy_public: bool | None = None
    id: int | None = None

    def as_activity(self) -> dict[str, Any]:
        """The bucket as the mapping policy filters read."""
        return {
            "connector": self.connector,
            "connector_id": self.connector_id,
            "region": self.region,
            "recipient_account_id": self.account_id,
            "service": "s3",
            "event_source": "s3.amazonaws.com",
            "resources": [{"name": self.name, "type": S3_BUCKET}],
        }


def is_bucket_policy(policy: CompiledPolicy) -> bool:
    spec = policy.spec
    return spec.type == TYPE_FILE and (spec.template_key or spec.key) == PUBLIC_BUCKET


def evaluate_buckets(policies: Iterable[CompiledPolicy], buckets: Iterable[BucketFacts]) -> list[Finding]:
    """One finding per public bucket that each public-bucket policy's filters select."""
    bucket_policies = [policy for policy in policies if is_bucket_policy(policy)]
    findings: list[Finding] = []
    for bucket in buckets:
        if not bucket.public:
            continue
        mapping = bucket.as_activity()
        for policy in bucket_policies:
            if policy.predicate(mapping):
                findings.append(public_bucket_finding(policy, bucket))
    return findings


def reasons(bucket: BucketFacts) -> list[str]:
    """Why the bucket is public, one sentence per grant or policy."""
    found = [
        f"The bucket ACL grants {grant.get('permission', '')} to "
        f"{AUDIENCES.get(grant.get('grantee', ''), grant.get('grantee', ''))}."
        for grant in bucket.public_grants
    ]
    if bucket.policy_public:
        found.append("The bucket policy is public (GetBucketPolicyStatus: IsPublic).")
    return found


def _short_reason(bucket: BucketFacts) -> str:
    parts = [f"{grant.get('grantee', '')} {grant.get('permission', '')}" for grant in bucket.public_grants]
    if bucket.policy_public:
        parts.append("public bucket policy")
    return ", ".join(parts)


def public_bucket_finding(policy: CompiledPolicy, bucket: BucketFacts) -> Finding:
    spec = policy.spec
    since = bucket.public_since or bucket.scanned_at
    why = reasons(bucket)
    short = _short_reason(bucket)
    return Finding(
        policy_key=spec.key,
        policy_id=spec.id,
        title=f"S3 bucket {bucket.name} is publicly accessible" + (f" ({short})" if short else ""),
        severity=spec.severity,
        principal="",
        first_seen=since,
        last_seen=bucket.scanned_at,
        key=f"{bucket.group_key}:public-since:{iso(since)}",
        description=" ".join(why) or f"The bucket {bucket.name} is publicly accessible.",
        evidence={
            "bucket": bucket.name,
            "connector_id": bucket.connector_id,
            "account_id": bucket.account_id,
            "region": bucket.region,
            "owner": bucket.owner,
            "explanation": " ".join(why),
            "public_grants": [
                f"{grant.get('grantee', '')}: {grant.get('permission', '')}" for grant in bucket.public_grants
            ],
            "policy_public": bool(bucket.policy_public),
            "public_since": iso(since),
        },
        group_key=bucket.group_key,
        connector_id=bucket.connector_id,
        extend_open=True,
    )
