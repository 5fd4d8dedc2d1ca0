"""The only module that builds boto3 sessions and clients.

Everything that talks to AWS (the connector wizard, ingestion, inventory, governance, and the local
emulator's scenario loader) asks for a client here, so retries, timeouts, the endpoint override and
the user agent are the same everywhere, and AWS errors are classified in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from django.conf import settings

USER_AGENT = "DefenderForAWS/1.0"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class AwsCredentials:
    """Access keys of an IAM user, or a role to assume with the portal's own base credentials."""

    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    role_arn: str = ""
    external_id: str = ""

    def __str__(self) -> str:
        return self.role_arn or self.access_key_id


def _config(*, retry_mode: str, max_attempts: int, read_timeout: int) -> Config:
    return Config(
        user_agent_extra=USER_AGENT,
        retries={"mode": retry_mode, "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=read_timeout,
    )


def resolve_endpoint(endpoint_url: str | None) -> str | None:
    """A connector's own endpoint wins; otherwise AWS_ENDPOINT_URL (tests, demo); otherwise AWS."""
    return endpoint_url or settings.AWS_ENDPOINT_URL or None


def _base_session(credentials: AwsCredentials, region: str) -> boto3.Session:
    if credentials.access_key_id:
        return boto3.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token or None,
            region_name=region,
        )
    # Role connectors: the portal's own identity (environment, instance profile...) assumes the role.
    return boto3.Session(region_name=region)


def session(
    credentials: AwsCredentials, *, region: str = DEFAULT_REGION, endpoint_url: str | None = None
) -> boto3.Session:
    """A session holding ``credentials``; for a role, the assumed role's temporary credentials."""
    base = _base_session(credentials, region)
    if not credentials.role_arn:
        return base
    sts = base.client(
        "sts",
        endpoint_url=resolve_endpoint(endpoint_url),
        config=_config(retry_mode="standard", max_attempts=3, read_timeout=20),
    )
    params = {"RoleArn": credentials.role_arn, "RoleSessionName": "defender-for-aws"}
    if credentials.external_id:
        params["ExternalId"] = credentials.external_id
    assumed = sts.assume_role(**params)["Credentials"]
    return boto3.Session(
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
        region_name=region,
    )


def client(
    service: str,
    credentials: AwsCredentials,
    *,
    region: str = DEFAULT_REGION,
    endpoint_url: str | None = None,
    boto_session: boto3.Session | None = None,
    retry_mode: str = "adaptive",
    max_attempts: int = 8,
    read_timeout: int = 30,
):
    """A boto3 client for ``service``. Pass ``boto_session`` to reuse one role assumption."""
    active = boto_session or session(credentials, region=region, endpoint_url=endpoint_url)
    return active.client(
        service,
        region_name=region,
        endpoint_url=resolve_endpoint(endpoint_url),
        config=_config(retry_mode=retry_mode, max_attempts=max_attempts, read_timeout=read_timeout),
    )


class ErrorKind(StrEnum):
    INVALID_CREDENTIALS = "invalid_credentials"
    ACCESS_DENIED = "access_denied"
    EXPIRED = "expired"
    THROTTLED = "throttled"
    NETWORK = "network"
    NOT_FOUND = "not_found"
    SERVER = "server"
    OTHER = "other"


INVALID_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "UnrecognizedClientException",
    "AuthFailure",
    "InvalidAccessKeyId",
    "IncompleteSignature",
    "MissingAuthenticationToken",
}
ACCESS_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
THROTTLED_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
    "RequestThrottledException",
}
NOT_FOUND_CODES = {"NoSuchBucket", "NoSuchEntity", "TrailNotFoundException", "NoSuchKey"}


@dataclass(frozen=True)
class AwsFailure:
    """What went wrong, in words an administrator can act on, with AWS's own code and message."""

    kind: ErrorKind
    code: str
    message: str

    @property
    def transient(self) -> bool:
        return self.kind in {ErrorKind.THROTTLED, ErrorKind.NETWORK, ErrorKind.SERVER}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


def classify(error: Exception) -> AwsFailure:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        message = details.get("Message", "") or str(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in INVALID_CREDENTIAL_CODES:
            kind = ErrorKind.INVALID_CREDENTIALS
        elif code in ACCESS_DENIED_CODES:
            kind = ErrorKind.ACCESS_DENIED
        elif code in EXPIRED_CODES:
            kind = ErrorKind.EXPIRED
        elif code in THROTTLED_CODES:
            kind = ErrorKind.THROTTLED
        elif code in NOT_FOUND_CODES:
            kind = ErrorKind.NOT_FOUND
        elif status >= 500:
            kind = ErrorKind.SERVER
        else:
            kind = ErrorKind.OTHER
        return AwsFailure(kind, code, message)
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return AwsFailure(ErrorKind.NETWORK, "", f"Could not reach AWS: {error}")
    if isinstance(error, NoCredentialsError):
        return AwsFailure(ErrorKind.INVALID_CREDENTIALS, "", "No AWS credentials were available to use.")
    if isinstance(error, BotoCoreError):
        return AwsFailure(ErrorKind.OTHER, "", str(error))
    raise error


def available_regions(service: str = "cloudtrail") -> list[str]:
    """Regions of the commercial partition where ``service`` exists (botocore's own list)."""
    return sorted(boto3.Session().get_available_regions(service))
