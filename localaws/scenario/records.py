"""CloudTrail record primitives: deterministic identifiers, user agents, userIdentity elements and the
record envelope, in the field order AWS writes them."""

from __future__ import annotations

import random
import re
import string
import time
from dataclasses import dataclass

ACCOUNT_ID = "123456789012"  # moto's default account
UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits

# eventVersion per event source: the versions CloudTrail currently writes for these services.
EVENT_VERSIONS = {
    "ec2.amazonaws.com": "1.09",
    "s3.amazonaws.com": "1.09",
    "signin.amazonaws.com": "1.09",
    "iam.amazonaws.com": "1.09",
    "sts.amazonaws.com": "1.08",
}


def rng_for(*parts: object) -> random.Random:
    """A generator seeded by the parts: same parts, same numbers, on every machine."""
    return random.Random("\x1f".join(str(part) for part in parts))


def token(rng: random.Random, length: int, alphabet: str = UPPER_DIGITS) -> str:
    return "".join(rng.choices(alphabet, k=length))


def hex_id(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(4 * length):0{length}x}"


_VERSION_4 = (0xF000 << 64) | (0xC000 << 48)


def event_uuid(rng: random.Random) -> str:
    """A random (version 4) UUID from ``rng``: what uuid.UUID(int=..., version=4) gives, faster."""
    value = (rng.getrandbits(128) & ~_VERSION_4) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def stable_token(length: int, *parts: object, alphabet: str = UPPER_DIGITS) -> str:
    return token(rng_for("stable", *parts), length, alphabet)


def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def expiration(t: int) -> str:
    """STS credential expirations are written the way the Java SDK prints dates."""
    parts = time.gmtime(t)
    hour = parts.tm_hour % 12 or 12
    month = time.strftime("%b", parts)
    clock = f"{hour}:{parts.tm_min:02d}:{parts.tm_sec:02d} {'AM' if parts.tm_hour < 12 else 'PM'}"
    return f"{month} {parts.tm_mday}, {parts.tm_year}, {clock}"


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def cli_command(source: str, name: str) -> str:
    service = source.split(".")[0]
    operation = _CAMEL.sub("-", re.sub(r"\d+(v\d+)?$", "", name)).lower()
    return f"{service}.{operation}"


# --- user agents -----------------------------------------------------------------------------------
BROWSERS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
)
TOR_BROWSER = "Mozilla/5.0 (Windows NT 10.0; rv:115.0) Gecko/20100101 Firefox/115.0"
CLI_PLATFORMS = (
    ("2.15.40", "os/macos#23.4.0 md/arch#arm64", "lang/python#3.11.8"),
    ("2.17.20", "os/linux#6.5.0-1022-aws md/arch#x86_64", "lang/python#3.11.9"),
    ("2.22.8", "os/windows#10 md/arch#amd64", "lang/python#3.12.6"),
    ("2.24.10", "os/macos#24.1.0 md/arch#arm64", "lang/python#3.12.6"),
)
S3_CONSOLE = (
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750 Linux/5.10.219-186.866.amzn2int.x86_64 "
    "OpenJDK_64-Bit_Server_VM/25.412-b09 java/1.8.0_412 vendor/Oracle_Corporation cfg/retry-mode/standard]"
)
TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.46.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 "
    "md/GOOS#linux md/GOARCH#amd64"
)
BOTO3 = (
    "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.84"
)
BOTO3_LAMBDA = (
    "Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.214-223.801.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
    "Botocore/1.34.42"
)
GO_SDK = "aws-sdk-go/1.50.38 (go1.21.9; linux; amd64)"
CONSOLE = "AWS Internal"


def cli_agent(platform: int, source: str, name: str) -> str:
    version, system, lang = CLI_PLATFORMS[platform % len(CLI_PLATFORMS)]
    return (
        f"aws-cli/{version} md/awscrt#0.19.19 ua/2.0 {system} {lang} md/pyimpl#CPython "
        f"cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#{cli_command(source, name)}"
    )


# --- identities ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Actor:
    """Who makes a call and from where: the userIdentity element plus the network details."""

    identity: dict
    source_ip: str
    channel: str  # console / cli / sdk / terraform / poll / service
    user_agent: str = ""
    tls: tuple[str, str] | None = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
    console: bool = False
    cli_platform: int = 0

    def agent(self, source: str, name: str) -> str:
        if self.channel == "cli":
            return cli_agent(self.cli_platform, source, name)
        if self.channel == "console" and source == "s3.amazonaws.com":
            return S3_CONSOLE
        return self.user_agent


def session_context(
    *, created: int, mfa: bool, issuer: dict | None = None, web_identity: dict | None = None
) -> dict:
    return {
        "sessionIssuer": issuer or {},
        "webIdFederationData": web_identity or {},
        "attributes": {"creationDate": iso(created), "mfaAuthenticated": "true" if mfa else "false"},
    }


def iam_user_identity(
    user: str, principal_id: str, access_key: str | None, context: dict | None = None
) -> dict:
    identity = {
        "type": "IAMUser",
        "principalId": principal_id,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/{user}",
        "accountId": ACCOUNT_ID,
    }
    if access_key is not None:
        identity["accessKeyId"] = access_key
    identity["userName"] = user
    if context:
        identity["sessionContext"] = context
    return identity


def role_issuer(role: str, path: str, role_id: str) -> dict:
    return {
        "type": "Role",
        "principalId": role_id,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role{path}{role}",
        "accountId": ACCOUNT_ID,
        "userName": role,
    }


def assumed_role_identity(
    *,
    role: str,
    path: str,
    role_id: str,
    session: str,
    access_key: str,
    created: int,
    mfa: bool = False,
    invoked_by: str | None = None,
    web_identity: dict | None = None,
) -> dict:
    identity = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT_ID,
        "accessKeyId": access_key,
        "sessionContext": session_context(
            created=created, mfa=mfa, issuer=role_issuer(role, path, role_id), web_identity=web_identity
        ),
    }
    if invoked_by:
        identity["invokedBy"] = invoked_by
    return identity


def root_identity(access_key: str | None = None, context: dict | None = None) -> dict:
    identity = {
        "type": "Root",
        "principalId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:root",
        "accountId": ACCOUNT_ID,
    }
    if access_key is not None:
        identity["accessKeyId"] = access_key
    if context:
        identity["sessionContext"] = context
    return identity


def service_identity(service: str) -> dict:
    return {"type": "AWSService", "invokedBy": service}


# --- the envelope ----------------------------------------------------------------------------------
def tls_host(source: str, region: str, bucket: str | None = None) -> str:
    service = source.split(".")[0]
    if service == "signin":
        return "signin.aws.amazon.com"
    if service == "s3":
        return f"{bucket}.s3.{region}.amazonaws.com" if bucket else "s3.amazonaws.com"
    if service in {"iam", "organizations", "health", "ce"}:
        return f"{service}.amazonaws.com" if service == "iam" else f"{service}.us-east-1.amazonaws.com"
    if service == "monitoring":
        return f"monitoring.{region}.amazonaws.com"
    return f"{service}.{region}.amazonaws.com"


def record(
    *,
    t: int,
    actor: Actor,
    source: str,
    name: str,
    region: str,
    read_only: bool,
    event_id: str,
    request_id: str,
    request: dict | None = None,
    response: dict | None = None,
    resources: list | None = None,
    error: tuple[str, str] | None = None,
    additional: dict | None = None,
    event_type: str = "AwsApiCall",
    management: bool = True,
    shared_event_id: str | None = None,
    bucket: str | None = None,
    user_agent: str | None = None,
) -> dict:
    rec: dict = {
        "eventVersion": EVENT_VERSIONS.get(source, "1.08"),
        "userIdentity": actor.identity,
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": actor.source_ip,
        "userAgent": user_agent or actor.agent(source, name),
    }
    if error:
        if error[0]:
            rec["errorCode"] = error[0]
        rec["errorMessage"] = error[1]
    rec["requestParameters"] = request
    rec["responseElements"] = None if error and error[0] else response
    if additional is not None:
        rec["additionalEventData"] = additional
    if request_id:
        rec["requestID"] = request_id
    rec["eventID"] = event_id
    rec["readOnly"] = read_only
    if resources:
        rec["resources"] = resources
    rec["eventType"] = event_type
    rec["managementEvent"] = management
    rec["recipientAccountId"] = ACCOUNT_ID
    if shared_event_id:
        rec["sharedEventID"] = shared_event_id
    rec["eventCategory"] = "Management" if management else "Data"
    if actor.tls:
        rec["tlsDetails"] = {
            "tlsVersion": actor.tls[0],
            "cipherSuite": actor.tls[1],
            "clientProvidedHostHeader": tls_host(source, region, bucket),
        }
    if actor.console and source != "signin.amazonaws.com":
        rec["sessionCredentialFromConsole"] = "true"
    return rec
