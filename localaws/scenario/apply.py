"""apply_scenario: build the scenario's account in the local emulator through its real APIs, deliver
the events as CloudTrail log files into the trail bucket, feed them to the LookupEvents store, and
create the IAM users the connector uses (their access-key CSVs are what a person uploads)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from connectors import aws
from connectors.iam_policies import GOVERNANCE_ACTIONS, READ_ONLY_ACTIONS, policy_document
from localaws.scenario.calls import public_read_policy
from localaws.scenario.cast import (
    ADFS_PROVIDER,
    DOMAIN,
    MONITORING_ACCOUNT,
    OIDC_PROVIDER,
    SSO_PATH,
    SSO_PROVIDER,
)
from localaws.scenario.files import stream, write_side_files
from localaws.scenario.records import rng_for, token
from localaws.scenario.scenario import Scenario
from localaws.scenario.spec import INSTANCE_LAYOUT

log = logging.getLogger(__name__)

EMULATOR_CREDENTIALS = aws.AwsCredentials(access_key_id="testing", secret_access_key="testing")
CSV_HEADER = ("User name", "Password", "Access key ID", "Secret access key", "Console login link")
LOOKUP_BATCH = 1000
UPLOAD_WORKERS = 8
ALREADY_THERE = {
    "EntityAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "BucketAlreadyExists",
    "TrailAlreadyExistsException",
}
# Who may use each connector user: the seed's policy (read + s3:PutBucketAcl) or the read-only one.
CONNECTOR_USERS = (
    (
        "defender-connector",
        "DefenderForCloudAppsAuditing",
        GOVERNANCE_ACTIONS,
        "the demo's connector (seed policy)",
    ),
    (
        "defender-wizard",
        "DefenderForCloudAppsAuditing",
        GOVERNANCE_ACTIONS,
        "for the connect wizard (seed policy)",
    ),
    (
        "defender-readonly",
        "DefenderForCloudAppsReadOnly",
        READ_ONLY_ACTIONS,
        "read-only: governance disabled",
    ),
)
# The seed's policy cannot tell a bucket public through its bucket policy: the demo's administrator
# also granted the demo connector the two reads the least-privilege policy has (moto authorizes
# GetPublicAccessBlock as s3:ListBucket, hence the third).
BUCKET_STATE_READS = (
    "defender-connector",
    ["s3:GetBucketPolicyStatus", "s3:GetBucketPublicAccessBlock", "s3:ListBucket"],
)
IMAGES = {"us-east-1": "ami-0c101f26f147fa7fd", "eu-west-1": "ami-0d64bb532e0502c46"}
SAMPLE_OBJECTS = {
    "hanbit-press-kit": ("logo.png", "brand-guidelines.pdf", "press-release-2025-03.pdf"),
    "hanbit-web-static": ("index.html", "assets/app.js", "assets/app.css"),
    "hanbit-tmp-exports": ("exports/2025/orders-weekly.csv.gz", "exports/2025/returns-weekly.csv.gz"),
    "hanbit-prod-orders": ("orders/2025/03/orders-0001.parquet",),
}


@dataclass
class AppliedScenario:
    """What apply_scenario created and delivered."""

    scenario: Scenario
    endpoint_url: str
    out_dir: Path
    credentials: dict[str, Path] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    buckets: list[dict] = field(default_factory=list)
    instances: dict[str, list[str]] = field(default_factory=dict)
    trail: dict = field(default_factory=dict)
    trail_files: int = 0
    event_count: int = 0
    lookup_events: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> list[str]:
        s = self.scenario
        stats = s.stats()
        lines = [
            f"Scenario {s.name} (seed {s.seed}) for account {s.account_id}: "
            f"{s.start_at:%Y-%m-%d %H:%M} .. {s.end_at:%Y-%m-%d %H:%M} UTC, {len(s.cast)} principals",
            f"Events: {self.event_count:,}, of which {self.lookup_events:,} management events fed to "
            "LookupEvents",
            f"Trail files: {self.trail_files:,} in "
            f"s3://{self.trail.get('bucket')}/AWSLogs/{s.account_id}/CloudTrail/",
            "Events by region: " + ", ".join(f"{r} {n:,}" for r, n in stats["events_by_region"].items()),
            f"IAM users: {len(self.users)}, roles: {len(self.roles)}",
            "Instances: " + ", ".join(f"{region} {len(ids)}" for region, ids in self.instances.items()),
            "Buckets:",
            *(f"  {b['name']} ({b['region']}, {b['access']})" for b in self.buckets),
            "Connector credentials (upload in the connect wizard):",
            *(f"  {user}: {path}" for user, path in self.credentials.items()),
            "Episodes: " + ", ".join(ep.name for ep in s.episodes.episodes)
            if s.episodes.episodes
            else "Episodes: none",
            "Side files: " + ", ".join(str(p) for p in self.files),
        ]
        return lines


def _tolerate(call: Callable, *args, **kwargs):
    """Create-if-missing: applying twice to the same emulator is not an error."""
    try:
        return call(*args, **kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ALREADY_THERE:
            return None
        raise


class _Applier:
    def __init__(self, scenario: Scenario, endpoint_url: str, out_dir: Path) -> None:
        self.scenario = scenario
        self.endpoint_url = endpoint_url
        self.out_dir = out_dir
        self.applied = AppliedScenario(scenario=scenario, endpoint_url=endpoint_url, out_dir=out_dir)
        self.rng = rng_for(scenario.salt, "apply")
        self._clients: dict[tuple[str, str], object] = {}

    def client(self, service: str, region: str = "us-east-1"):
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = aws.client(
                service, EMULATOR_CREDENTIALS, region=region, endpoint_url=self.endpoint_url
            )
        return self._clients[key]

    # --- IAM -----------------------------------------------------------------------------------
    def identity_providers(self) -> None:
        iam = self.client("iam")
        for arn in (ADFS_PROVIDER, SSO_PROVIDER):
            name = arn.rsplit("/", 1)[1]
            _tolerate(iam.create_saml_provider, Name=name, SAMLMetadataDocument=_saml_metadata(name))
        _tolerate(
            iam.create_open_id_connect_provider,
            Url="https://token.actions.githubusercontent.com",
            ClientIDList=["sts.amazonaws.com"],
            ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
        )

    def roles(self) -> None:
        iam = self.client("iam")
        for role in self.scenario.spec.roles:
            _tolerate(
                iam.create_role,
                RoleName=role.name,
                Path=role.path,
                Description=role.description,
                AssumeRolePolicyDocument=json.dumps(_trust(role.trust)),
            )
            self.applied.roles.append(role.name)
        _tolerate(iam.create_instance_profile, InstanceProfileName="app-server-role")
        profile = iam.get_instance_profile(InstanceProfileName="app-server-role")["InstanceProfile"]
        if not profile["Roles"]:
            iam.add_role_to_instance_profile(
                InstanceProfileName="app-server-role", RoleName="app-server-role"
            )
        for role in sorted({p.role for p in self.scenario.cast if p.federation == "sso"}):
            _tolerate(
                iam.create_role,
                RoleName=role,
                Path=SSO_PATH,
                Description="Permission set provisioned by IAM Identity Center",
                AssumeRolePolicyDocument=json.dumps(_trust("sso")),
            )
            self.applied.roles.append(role)
        _tolerate(iam.create_service_linked_role, AWSServiceName="autoscaling.amazonaws.com")
        self.applied.roles.append("AWSServiceRoleForAutoScaling")

    def users(self) -> None:
        iam = self.client("iam")
        groups = {"developer": "Developers", "devops": "Platform", "sre": "Platform", "build": "Platform"}
        groups |= {"backup": "Platform", "security": "Security"}
        for group in sorted(set(groups.values())):
            _tolerate(iam.create_group, GroupName=group)
        for p in self.scenario.cast:
            if p.type != "IAMUser":
                continue
            tags = [
                {"Key": "email", "Value": p.email},
                {"Key": "team", "Value": groups.get(p.persona, "Other")},
            ]
            _tolerate(iam.create_user, UserName=p.name, Tags=tags)
            if p.console:
                password = (
                    token(self.rng, 20, "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") + "#1a"
                )
                _tolerate(iam.create_login_profile, UserName=p.name, Password=password)
            if p.cli and not iam.list_access_keys(UserName=p.name)["AccessKeyMetadata"]:
                iam.create_access_key(UserName=p.name)
            if p.persona in groups:
                _tolerate(iam.add_user_to_group, GroupName=groups[p.persona], UserName=p.name)
            self.applied.users.append(p.name)

    def connector_users(self) -> None:
        iam = self.client("iam")
        account = self.scenario.account_id
        for user, policy, actions, _ in CONNECTOR_USERS:
            policy_arn = f"arn:aws:iam::{account}:policy/{policy}"
            _tolerate(
                iam.create_policy,
                PolicyName=policy,
                PolicyDocument=json.dumps(policy_document(actions)),
                Description="Defender for AWS: security auditing connector",
            )
            _tolerate(iam.create_user, UserName=user, Tags=[{"Key": "purpose", "Value": "defender-for-aws"}])
            iam.attach_user_policy(UserName=user, PolicyArn=policy_arn)
            if user == BUCKET_STATE_READS[0]:
                iam.put_user_policy(
                    UserName=user,
                    PolicyName="DefenderBucketPublicState",
                    PolicyDocument=json.dumps(policy_document(BUCKET_STATE_READS[1])),
                )
            for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
                iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
            key = iam.create_access_key(UserName=user)["AccessKey"]
            path = self.out_dir / f"{user}_credentials.csv"
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(CSV_HEADER)
            writer.writerow(
                [
                    user,
                    "",
                    key["AccessKeyId"],
                    key["SecretAccessKey"],
                    f"https://{account}.signin.aws.amazon.com/console",
                ]
            )
            path.write_text(buffer.getvalue())
            path.chmod(0o600)
            self.applied.credentials[user] = path
            self.applied.users.append(user)

    # --- S3, EC2, CloudTrail -------------------------------------------------------------------
    def buckets(self) -> None:
        s3 = self.client("s3")
        spec = self.scenario.spec
        for bucket in spec.buckets:
            kwargs = {"Bucket": bucket.name}
            if bucket.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": bucket.region}
            _tolerate(s3.create_bucket, **kwargs)
            s3.put_bucket_tagging(
                Bucket=bucket.name, Tagging={"TagSet": [{"Key": "purpose", "Value": bucket.purpose[:250]}]}
            )
            if bucket.access == "public-acl":
                s3.put_bucket_acl(Bucket=bucket.name, ACL="public-read")
            elif bucket.access == "public-policy":
                s3.put_bucket_policy(Bucket=bucket.name, Policy=json.dumps(public_read_policy(bucket.name)))
            elif bucket.name == spec.trail_bucket:
                s3.put_bucket_policy(
                    Bucket=bucket.name, Policy=json.dumps(_trail_bucket_policy(bucket.name, spec))
                )
            for key in SAMPLE_OBJECTS.get(bucket.name, ()):
                s3.put_object(Bucket=bucket.name, Key=key, Body=f"{bucket.name}/{key}\n".encode())
            self.applied.buckets.append(
                {"name": bucket.name, "region": bucket.region, "access": bucket.access}
            )

    def instances(self) -> None:
        for region, layout in INSTANCE_LAYOUT.items():
            ec2 = self.client("ec2", region)
            existing = ec2.describe_instances(Filters=[{"Name": "tag:scenario", "Values": ["hanbit"]}])
            ids = [i["InstanceId"] for r in existing["Reservations"] for i in r["Instances"]]
            if not ids:
                for name, instance_type in layout:
                    launched = ec2.run_instances(
                        ImageId=IMAGES[region],
                        InstanceType=instance_type,
                        MinCount=1,
                        MaxCount=1,
                        TagSpecifications=[
                            {
                                "ResourceType": "instance",
                                "Tags": [
                                    {"Key": "Name", "Value": name},
                                    {"Key": "scenario", "Value": "hanbit"},
                                ],
                            }
                        ],
                    )
                    ids.extend(i["InstanceId"] for i in launched["Instances"])
            self.applied.instances[region] = ids

    def trail(self) -> None:
        spec = self.scenario.spec
        cloudtrail = self.client("cloudtrail")
        _tolerate(
            cloudtrail.create_trail,
            Name=spec.trail_name,
            S3BucketName=spec.trail_bucket,
            IsMultiRegionTrail=True,
            IncludeGlobalServiceEvents=True,
            EnableLogFileValidation=True,
        )
        try:
            cloudtrail.put_event_selectors(
                TrailName=spec.trail_name,
                EventSelectors=[
                    {
                        "ReadWriteType": "All",
                        "IncludeManagementEvents": True,
                        "DataResources": [
                            {"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::hanbit-tmp-exports/"]}
                        ],
                    }
                ],
            )
        except ClientError as error:  # older emulators: management events only, still a valid trail
            log.info("Event selectors not set on the emulator's trail: %s", error)
        cloudtrail.start_logging(Name=spec.trail_name)
        self.applied.trail = {"name": spec.trail_name, "bucket": spec.trail_bucket, "multi_region": True}

    # --- events --------------------------------------------------------------------------------
    def deliver(self, add_events: Callable[[Iterable[dict]], None]) -> dict:
        s3 = self.client("s3")
        bucket = self.scenario.spec.trail_bucket
        pending: deque[Future] = deque()
        batch: list[dict] = []
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS, thread_name_prefix="trail-upload") as pool:
            for record, _, files in stream(self.scenario):
                for key, body in files:
                    pending.append(
                        pool.submit(
                            s3.put_object, Bucket=bucket, Key=key, Body=body, ContentType="application/x-gzip"
                        )
                    )
                    self.applied.trail_files += 1
                    while len(pending) > 4 * UPLOAD_WORKERS:
                        pending.popleft().result()
                if not record:
                    continue
                self.applied.event_count += 1
                # LookupEvents returns management events only; S3 data events live in the trail files.
                if record["managementEvent"]:
                    batch.append(record)
                    if len(batch) >= LOOKUP_BATCH:
                        add_events(batch)
                        self.applied.lookup_events += len(batch)
                        batch = []
            if batch:
                add_events(batch)
                self.applied.lookup_events += len(batch)
            while pending:
                pending.popleft().result()
        stats = self.scenario.stats()
        stats["trail_files"] = self.applied.trail_files
        return stats


def apply_scenario(
    scenario: Scenario,
    *,
    endpoint_url: str,
    add_events: Callable[[Iterable[dict]], None],
    out_dir: Path,
) -> AppliedScenario:
    """Create the account in the emulator at ``endpoint_url`` and deliver the scenario's events."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    applier = _Applier(scenario, endpoint_url, out_dir)
    applier.identity_providers()
    applier.roles()
    applier.users()
    applier.buckets()
    applier.instances()
    applier.trail()
    applier.connector_users()
    stats = applier.deliver(add_events)
    applier.applied.files = write_side_files(scenario, out_dir, stats)
    return applier.applied


def _trust(kind: str) -> dict:
    if kind == "saml":
        principal, action = {"Federated": ADFS_PROVIDER}, "sts:AssumeRoleWithSAML"
        condition = {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}
    elif kind == "sso":
        principal, action = {"Federated": SSO_PROVIDER}, ["sts:AssumeRoleWithSAML", "sts:TagSession"]
        condition = {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}
    elif kind == "oidc":
        principal, action = {"Federated": OIDC_PROVIDER}, "sts:AssumeRoleWithWebIdentity"
        condition = {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:hanbit/*"}}
    elif kind.isdigit():
        principal, action = {"AWS": f"arn:aws:iam::{kind}:root"}, "sts:AssumeRole"
        condition = (
            {"StringEquals": {"sts:ExternalId": "hanbit-observability"}} if kind == MONITORING_ACCOUNT else {}
        )
    else:
        principal, action, condition = {"Service": kind}, "sts:AssumeRole", {}
    statement = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def _trail_bucket_policy(bucket: str, spec) -> dict:
    source = f"arn:aws:cloudtrail:us-east-1:{spec.account_id}:trail/{spec.trail_name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringEquals": {"aws:SourceArn": source}},
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{spec.account_id}/*",
                "Condition": {
                    "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": source}
                },
            },
        ],
    }


def _saml_metadata(name: str) -> str:
    """A SAML 2.0 IdP metadata document (IAM wants at least 1,000 characters)."""
    certificate = token(
        rng_for("saml-cert", name), 880, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    )
    entity = f"http://adfs.{DOMAIN}/adfs/services/trust" if "ADFS" in name else f"https://portal.sso.{name}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">'
        '<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data>'
        f"<X509Certificate>{certificate}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>"
        '<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location="https://adfs.{DOMAIN}/adfs/ls/"/></IDPSSODescriptor></EntityDescriptor>'
    )
