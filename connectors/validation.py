"""Checks that a connector's credentials work and hold every permission the portal needs.

Each check calls the AWS API it is about and reports passed / failed with AWS's exact error, so the
wizard can say what to fix. Nothing here writes to AWS: s3:PutBucketAcl (needed only for data
governance) is read from the caller's IAM policies instead of being tried.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from connectors import aws
from connectors.aws import AwsCredentials, AwsFailure, ErrorKind


class CheckStatus:
    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"


@dataclass
class Check:
    key: str
    label: str
    status: str = CheckStatus.NOT_RUN
    detail: str = ""
    error_code: str = ""
    error_message: str = ""
    required: bool = True


@dataclass
class ValidationReport:
    checks: list[Check] = field(default_factory=list)
    account_id: str = ""
    caller_arn: str = ""
    governance_enabled: bool = False
    governance_reason: str = ""
    logs_all_regions: bool | None = None

    @property
    def ok(self) -> bool:
        return all(c.status != CheckStatus.FAILED for c in self.checks if c.required) and bool(
            self.account_id
        )

    @property
    def identity_failed(self) -> bool:
        return bool(self.checks) and self.checks[0].status == CheckStatus.FAILED

    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if c.required and c.status == CheckStatus.FAILED), None)

    def summary(self) -> str:
        failure = self.first_failure()
        return failure.detail if failure else "All checks passed."

    def as_list(self) -> list[dict]:
        return [asdict(check) for check in self.checks]


PERMISSION_CHECKS = [
    ("cloudtrail:DescribeTrails", "Read CloudTrail trails"),
    ("cloudtrail:GetTrailStatus", "Read trail status"),
    ("cloudtrail:LookupEvents", "Read CloudTrail events"),
    ("iam:ListUsers", "List IAM users"),
    ("s3:ListAllMyBuckets", "List S3 buckets"),
    ("s3:GetBucketAcl", "Read bucket ACLs"),
    ("s3:GetBucketLocation", "Read bucket regions"),
]
GOVERNANCE_PERMISSION = "s3:PutBucketAcl"


def explain(failure: AwsFailure, *, permission: str = "", principal: str = "", endpoint: str = "") -> str:
    """Words an administrator can act on, followed by AWS's own error."""
    aws_says = f" AWS said: {failure}"
    if failure.code in {"InvalidClientTokenId", "InvalidAccessKeyId", "UnrecognizedClientException"}:
        return (
            "AWS does not recognise this access key ID. Check that it was copied whole and that the "
            "key is still active (IAM > Users > Security credentials)." + aws_says
        )
    if failure.code in {"SignatureDoesNotMatch", "InvalidSignatureException"}:
        return (
            "The secret access key does not belong to this access key ID. Paste the secret again from "
            "the .csv file AWS gave when the key was created." + aws_says
        )
    if failure.kind == ErrorKind.EXPIRED:
        return "The credentials have expired. Create a new access key, or check the role session." + aws_says
    if failure.kind == ErrorKind.ACCESS_DENIED:
        who = f" of {principal}" if principal else ""
        return (
            f"Missing permission {permission}: add it to the IAM policy{who} "
            "(the policy JSON is on this page)." + aws_says
        )
    if failure.kind == ErrorKind.THROTTLED:
        return "AWS is throttling requests from this account. Wait a minute and validate again." + aws_says
    if failure.kind == ErrorKind.NETWORK:
        target = endpoint or "AWS"
        return f"Could not reach {target}. Check the network path and any proxy or firewall." + aws_says
    if failure.kind == ErrorKind.SERVER:
        return (
            f"AWS answered {permission or 'the call'} with a server error (HTTP {failure.code}). "
            "This is on AWS's side: validate again in a few minutes."
        )
    return f"{permission or 'The call'} failed." + aws_says


def _record_failure(check: Check, error: Exception, **context) -> AwsFailure:
    failure = aws.classify(error)
    check.status = CheckStatus.FAILED
    check.error_code = failure.code
    check.error_message = failure.message
    check.detail = explain(failure, permission=check.key, **context)
    return failure


def validate(
    credentials: AwsCredentials, *, endpoint_url: str = "", region: str = aws.DEFAULT_REGION
) -> ValidationReport:
    """Run every check in order. Identity first: if it fails, nothing else is tried."""
    report = ValidationReport()
    endpoint = aws.resolve_endpoint(endpoint_url) or ""
    identity = Check("sts:GetCallerIdentity", "Identity")
    report.checks.append(identity)
    permission_checks = [Check(key, label) for key, label in PERMISSION_CHECKS]
    governance = Check(GOVERNANCE_PERMISSION, "Change bucket ACLs (data governance)", required=False)
    trails = Check("cloudtrail:trails", "CloudTrail logs all regions", required=False)
    report.checks.extend([*permission_checks, governance, trails])

    def make(service: str):
        return aws.client(
            service,
            credentials,
            region=region,
            endpoint_url=endpoint_url,
            boto_session=boto_session,
            retry_mode="standard",
            max_attempts=3,
            read_timeout=15,
        )

    try:
        boto_session = aws.session(credentials, region=region, endpoint_url=endpoint_url)
        caller = make("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        failure = _record_failure(identity, error, endpoint=endpoint)
        if credentials.role_arn and failure.kind == ErrorKind.ACCESS_DENIED:
            identity.detail = (
                f"The portal could not assume {credentials.role_arn}. Check that the role's trust policy "
                "names the portal's principal and the external ID shown on this page. AWS said: "
                f"{failure}"
            )
        return report
    report.account_id = caller["Account"]
    report.caller_arn = caller["Arn"]
    identity.status = CheckStatus.PASSED
    identity.detail = f"Account {caller['Account']} as {caller['Arn']}"

    checks = dict(zip([k for k, _ in PERMISSION_CHECKS], permission_checks, strict=True))
    cloudtrail, iam, s3 = make("cloudtrail"), make("iam"), make("s3")
    context = {"principal": report.caller_arn, "endpoint": endpoint}

    def run(key: str, call: Callable[[], str]) -> None:
        check = checks[key]
        try:
            check.detail = call()
            check.status = CheckStatus.PASSED
        except (ClientError, BotoCoreError) as error:
            failure = aws.classify(error)
            if failure.kind == ErrorKind.NOT_FOUND:
                # Allowed to ask, nothing there: the permission is granted.
                check.status, check.detail = CheckStatus.PASSED, "Allowed (nothing to read yet)."
            else:
                _record_failure(check, error, **context)

    trail_list: list[dict] = []

    def describe_trails() -> str:
        trail_list.extend(cloudtrail.describe_trails(includeShadowTrails=True)["trailList"])
        return f"{len(trail_list)} trail(s)"

    def trail_status() -> str:
        name = trail_list[0]["TrailARN"] if trail_list else "defender-permission-probe"
        status = cloudtrail.get_trail_status(Name=name)
        return "Logging" if status.get("IsLogging") else "Not logging"

    buckets: list[str] = []

    def list_buckets() -> str:
        buckets.extend(b["Name"] for b in s3.list_buckets().get("Buckets", []))
        return f"{len(buckets)} bucket(s)"

    def bucket_call(call: Callable[[str], object]) -> Callable[[], str]:
        def run_on_first_bucket() -> str:
            if not buckets:
                return "Allowed by policy check deferred: the account has no bucket to read yet."
            call(buckets[0])
            return f"Read on {buckets[0]}"

        return run_on_first_bucket

    run("cloudtrail:DescribeTrails", describe_trails)
    run("cloudtrail:GetTrailStatus", trail_status)
    run("cloudtrail:LookupEvents", lambda: (cloudtrail.lookup_events(MaxResults=1), "Allowed")[1])
    run("iam:ListUsers", lambda: f"{len(iam.list_users(MaxItems=100)['Users'])} user(s) readable")
    run("s3:ListAllMyBuckets", list_buckets)
    run("s3:GetBucketAcl", bucket_call(lambda name: s3.get_bucket_acl(Bucket=name)))
    run("s3:GetBucketLocation", bucket_call(lambda name: s3.get_bucket_location(Bucket=name)))

    _check_trails(report, trails, cloudtrail, trail_list)
    _check_governance(report, governance, iam)
    return report


def _check_trails(report: ValidationReport, check: Check, cloudtrail, trail_list: list[dict]) -> None:
    multi = [t for t in trail_list if t.get("IsMultiRegionTrail")]
    if not trail_list:
        check.status = CheckStatus.WARNING
        check.detail = (
            "No trail: CloudTrail keeps 90 days of management events for LookupEvents, but nothing is "
            "archived. Create a multi-region trail to keep a record of every region."
        )
        report.logs_all_regions = False
        return
    if not multi:
        check.status = CheckStatus.WARNING
        check.detail = "No multi-region trail: activity in regions without a trail is not archived."
        report.logs_all_regions = False
        return
    try:
        logging = cloudtrail.get_trail_status(Name=multi[0]["TrailARN"]).get("IsLogging", False)
    except (ClientError, BotoCoreError):
        logging = None
    report.logs_all_regions = bool(logging)
    if logging is False:
        check.status = CheckStatus.WARNING
        check.detail = f"Trail {multi[0]['Name']} covers all regions but is not logging."
    else:
        check.status = CheckStatus.PASSED
        check.detail = f"Trail {multi[0]['Name']} logs all regions."


def _check_governance(report: ValidationReport, check: Check, iam) -> None:
    try:
        granted = _caller_may(iam, report.caller_arn, GOVERNANCE_PERMISSION)
    except (ClientError, BotoCoreError) as error:
        failure = aws.classify(error)
        check.status = CheckStatus.WARNING
        check.error_code, check.error_message = failure.code, failure.message
        check.detail = (
            f"Governance disabled: could not read the IAM policies of {report.caller_arn} to confirm "
            f"{GOVERNANCE_PERMISSION}. AWS said: {failure}"
        )
        report.governance_reason = check.detail
        return
    report.governance_enabled = granted
    if granted:
        check.status, check.detail = CheckStatus.PASSED, "Granted: S3 buckets can be made private."
    else:
        check.status = CheckStatus.WARNING
        check.detail = (
            f"Governance disabled: {GOVERNANCE_PERMISSION} is not granted, so buckets cannot be made "
            "private from the portal. Monitoring works without it."
        )
        report.governance_reason = check.detail


def _caller_may(iam, caller_arn: str, action: str) -> bool:
    """Evaluate the caller's identity policies for ``action`` on every resource (Deny wins)."""
    resource_part = caller_arn.split(":", 5)[-1]
    if resource_part == "root":
        return True
    documents: list[dict] = []
    if resource_part.startswith("user/"):
        user = resource_part.rsplit("/", 1)[-1]
        documents += _attached(iam, iam.list_attached_user_policies(UserName=user))
        for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
            documents.append(iam.get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"])
        for group in iam.list_groups_for_user(UserName=user)["Groups"]:
            group_name = group["GroupName"]
            documents += _attached(iam, iam.list_attached_group_policies(GroupName=group_name))
            for name in iam.list_group_policies(GroupName=group_name)["PolicyNames"]:
                documents.append(
                    iam.get_group_policy(GroupName=group_name, PolicyName=name)["PolicyDocument"]
                )
    elif resource_part.startswith("assumed-role/"):
        role = resource_part.split("/")[1]
        documents += _attached(iam, iam.list_attached_role_policies(RoleName=role))
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            documents.append(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
    return policies_allow(documents, action)


def _attached(iam, listing: dict) -> list[dict]:
    documents = []
    for attached in listing["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(
            PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
        )
        documents.append(version["PolicyVersion"]["Document"])
    return documents


def policies_allow(documents: list[dict | str], action: str) -> bool:
    """True when some statement allows ``action`` on all resources and none denies it."""
    allowed = False
    for document in documents:
        if isinstance(document, str):
            document = json.loads(unquote(document))
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if not _matches(statement.get("Action", []), action) or "Condition" in statement:
                continue
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            if statement.get("Effect") == "Deny":
                return False
            if any(r in {"*", "arn:aws:s3:::*"} for r in resources):
                allowed = True
    return allowed


def _matches(patterns: str | list[str], action: str) -> bool:
    patterns = [patterns] if isinstance(patterns, str) else patterns
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)


def check_identity(credentials: AwsCredentials, *, endpoint_url: str = "") -> AwsFailure | None:
    """The first check alone (sts:GetCallerIdentity), for the wizard to stop at a wrong key at once."""
    try:
        aws.client(
            "sts",
            credentials,
            endpoint_url=endpoint_url,
            retry_mode="standard",
            max_attempts=2,
            read_timeout=10,
        ).get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        return aws.classify(error)
    return None
