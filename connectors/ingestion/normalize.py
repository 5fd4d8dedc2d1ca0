"""CloudTrail records -> the fields of an Activity. Pure: no ORM, no network, no settings.

``normalize(record)`` turns one record (a dict as parsed from JSON) into a ``NormalizedActivity``
whose fields are the Activity model's, minus the connector, ``ingested_at`` and the enrichment
fields (country, city, latitude, longitude, asn, isp, ip_category, ip_tags) that a later stage fills.
It raises ``MalformedRecord`` with a reason a person can act on; ``normalize_batch`` never raises
for a bad record and keeps it with its reason. ``iter_records`` reads an exported log in any of the
forms CloudTrail and its users produce.

Rules worth knowing (the tests pin each one):

- Required: ``eventID``, ``eventTime``, ``eventName``, ``eventSource``, as non-empty strings. Keys are
  camelCase as CloudTrail writes them; a record that only has another spelling ("eventname") is
  rejected with a reason naming the expected key. Other fields of the wrong type are ignored (read as
  absent), numbers are accepted where text is expected, and strings are cut to the column's length.
- ``eventTime``: ISO 8601 with a time part ("2026-11-28T10:00:00Z", fractional seconds, any offset),
  returned as an aware UTC datetime; a time without an offset is taken as UTC.
- ``principal`` is a stable key per identity type: IAM user ARN (built from account + userName when a
  failed sign-in leaves the ARN out); the STS assumed-role ARN ``arn:aws:sts::<acct>:assumed-role/
  <role>/<session>`` (built from sessionIssuer + the session part of principalId when ``arn`` is
  missing); the federated-user ARN; ``arn:aws:iam::<acct>:root``; the calling service's name for
  AWSService (also for records with no type but an ``invokedBy``, like KMS key rotation);
  ``account:<accountId>[:<principalId>]`` for AWSAccount; ``identitycenter:<userId>`` for Identity
  Center users (also for "Unknown" identities that carry ``onBehalfOf.userId``, so that a person's
  portal sign-ins and API calls share a key); else ``unknown:<principalId, accountId or recipient>``.
- ``read_only``: ``readOnly`` (a boolean, or "true"/"false"); when absent, inferred from the event
  name (Get*, List*, Describe*, Head*, Lookup*).
- ``administrative``: see ``is_administrative``; besides its rule, only API calls count (not
  ``AwsServiceEvent`` / ``AwsConsoleSignIn`` / network-activity events) and never data events
  (``eventCategory`` "Data" or ``managementEvent`` false).
- ``succeeded``: no ``errorCode``; for ConsoleLogin, ``responseElements.ConsoleLogin`` "Failure" (or,
  when that is absent, an error message) also means failed. ``console_login`` is "Success"/"Failure"
  for ConsoleLogin, else "".
- ``mfa_used``: ``additionalEventData.MFAUsed`` ("Yes"/"No", sign-ins), else
  ``userIdentity.sessionContext.attributes.mfaAuthenticated``; None when neither says.
- ``resources``: at most 50 ``{"type", "name", "account_id"}``, de-duplicated, from the record's
  ``resources`` plus what the request names (bucketName, instanceId(s), instancesSet items of the
  request and, for RunInstances, of the response). ``name`` is the bucket name / instance ID for
  those two types (so both sources agree), otherwise the ARN.
- Size guards: ``request_parameters`` above 64 KB of JSON and ``raw`` above 1 MB are replaced by
  ``{"_truncated": true, "size": N, "preview": "<first 4 KB>"}`` (``raw`` keeps its small top-level
  keys and only loses its largest values). NUL characters, which PostgreSQL refuses in text and
  jsonb, are removed; strings that are not valid UTF-8 are repaired.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import math
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any

import orjson

__all__ = [
    "FIELD_LIMITS",
    "FIELD_NAMES",
    "BadLine",
    "BatchResult",
    "MalformedRecord",
    "NormalizedActivity",
    "is_administrative",
    "iter_records",
    "normalize",
    "normalize_batch",
    "principal_key",
    "record_text",
    "service_of",
]

RAW_LIMIT = 1024 * 1024
REQUEST_PARAMETERS_LIMIT = 64 * 1024
PREVIEW_BYTES = 4 * 1024
TEXT_LIMIT = 64 * 1024  # user_agent and error_message are TextFields: bounded all the same
MAX_RESOURCES = 50
ARN_LIMIT = 2048

# max_length of the Activity model's CharFields (a test keeps them in step with the model).
FIELD_LIMITS = {
    "event_id": 64,
    "event_name": 128,
    "event_source": 128,
    "service": 64,
    "event_type": 64,
    "region": 32,
    "recipient_account_id": 12,
    "source_ip": 255,
    "principal": 512,
    "principal_name": 256,
    "principal_type": 32,
    "access_key_id": 128,
    "error_code": 128,
    "console_login": 16,
}

PRINCIPAL_TYPES = frozenset(
    {"IAMUser", "AssumedRole", "FederatedUser", "Root", "AWSService", "AWSAccount", "IdentityCenterUser"}
)
READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup")
S3_BUCKET = "AWS::S3::Bucket"
EC2_INSTANCE = "AWS::EC2::Instance"
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
CHUNK = 64 * 1024

# Services whose calls authenticate or fetch credentials rather than change anything: sign-in,
# STS (AssumeRole*, GetSessionToken, GetFederationToken...: credential issuance is judged through the
# sign-in and role-use policies, and an EC2 instance or Lambda renewing its role every hour would
# drown the "admin activities" view), the Identity Center portal and its OAuth endpoint, and the SSM
# agent's message channels (every managed instance polls them).
AUTHENTICATION_SERVICES = frozenset(
    {"signin", "sts", "portal.sso", "sso-oauth", "ec2messages", "ssmmessages"}
)

# Write calls that touch data, not configuration, on services that are otherwise administrative.
# S3 object-level calls are data events when a trail logs them; bucket-level calls stay administrative.
DATA_PLANE_EVENTS = {
    "s3": frozenset(
        {
            "PutObject",
            "PostObject",
            "CopyObject",
            "DeleteObject",
            "DeleteObjects",
            "RestoreObject",
            "CreateMultipartUpload",
            "UploadPart",
            "UploadPartCopy",
            "CompleteMultipartUpload",
            "AbortMultipartUpload",
            "PutObjectAcl",
            "PutObjectTagging",
            "DeleteObjectTagging",
            "PutObjectRetention",
            "PutObjectLegalHold",
            "SelectObjectContent",
            "WriteGetObjectResponse",
        }
    ),
    "lambda": frozenset({"Invoke", "InvokeAsync", "InvokeWithResponseStream"}),
    "kms": frozenset(
        {
            "Encrypt",
            "Decrypt",
            "ReEncrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "GenerateRandom",
            "GenerateMac",
            "VerifyMac",
            "Sign",
            "Verify",
            "DeriveSharedSecret",
        }
    ),
    "dynamodb": frozenset(
        {
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchWriteItem",
            "TransactWriteItems",
            "ExecuteStatement",
            "BatchExecuteStatement",
            "ExecuteTransaction",
        }
    ),
    "sqs": frozenset(
        {
            "SendMessage",
            "SendMessageBatch",
            "ReceiveMessage",
            "DeleteMessage",
            "DeleteMessageBatch",
            "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch",
        }
    ),
    "sns": frozenset({"Publish", "PublishBatch"}),
    "kinesis": frozenset({"PutRecord", "PutRecords"}),
    "logs": frozenset({"PutLogEvents"}),
    "ssm": frozenset({"UpdateInstanceInformation", "PutInventory", "PutComplianceItems"}),
}
_NO_EVENTS: frozenset[str] = frozenset()
# orjson would write datetimes, dataclasses and subclasses that Django's JSONField encoder refuses:
# make it refuse them too, so that they go through _clean.
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


class MalformedRecord(Exception):
    """A record that cannot become an Activity; ``reason`` says exactly what is wrong with it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line of a JSON-lines file that is not JSON (or a file that is not JSON at all), passed on by
    ``iter_records`` so that ``normalize_batch`` rejects it with its line number instead of stopping."""

    line_number: int
    text: str
    error: str

    @property
    def reason(self) -> str:
        return f"line {self.line_number}: {self.error}"


@dataclass(frozen=True)
class NormalizedActivity:
    event_id: str
    event_time: datetime
    event_name: str
    event_source: str
    service: str
    event_type: str
    region: str
    recipient_account_id: str
    source_ip: str
    ip_address: str | None
    user_agent: str
    principal: str
    principal_name: str
    principal_type: str
    access_key_id: str
    read_only: bool
    administrative: bool
    succeeded: bool
    error_code: str
    error_message: str
    console_login: str
    mfa_used: bool | None
    resources: list[dict[str, str]]
    request_parameters: Any
    raw: Any

    def as_fields(self) -> dict[str, Any]:
        """A shallow dict for ``Activity(**fields)``: unlike ``dataclasses.asdict`` it does not
        deep-copy ``raw``."""
        return {name: getattr(self, name) for name in FIELD_NAMES}


FIELD_NAMES: tuple[str, ...] = NormalizedActivity.__match_args__


def _build(**fields: Any) -> NormalizedActivity:
    # A frozen dataclass's generated __init__ sets each of its 25 fields through object.__setattr__:
    # about 3 µs, a quarter of normalize(). Handing over the keyword dict as the instance's __dict__
    # is one call, and the result is the same frozen, comparable instance.
    activity = object.__new__(NormalizedActivity)
    object.__setattr__(activity, "__dict__", fields)
    return activity


@dataclass
class BatchResult:
    activities: list[NormalizedActivity] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (record as text, reason)

    @property
    def accepted_count(self) -> int:
        return len(self.activities)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    @property
    def total(self) -> int:
        return len(self.activities) + len(self.rejected)


# --------------------------------------------------------------------------------------------------
# One record


def normalize(record: Any) -> NormalizedActivity:
    """Normalize one CloudTrail record; raise ``MalformedRecord`` when it cannot be."""
    if not isinstance(record, dict):
        if isinstance(record, BadLine):
            raise MalformedRecord(record.reason)
        raise MalformedRecord(f"the record is not a JSON object (got {_kind(record)})")
    if "eventID" not in record and isinstance(record.get("CloudTrailEvent"), str):
        record = _unwrap_lookup_event(record)

    record, raw, raw_size = _storable(record)
    get = record.get
    event_id = _required(record, "eventID")
    event_time = _event_time(record)
    event_name = _required(record, "eventName")
    event_source = _required(record, "eventSource")

    identity = get("userIdentity")
    if identity is None:
        identity = {}
    elif not isinstance(identity, dict):
        raise MalformedRecord(f"userIdentity is not an object (got {_kind(identity)})")
    principal, principal_name, principal_type = _principal(identity, record)

    source_ip = _text(get("sourceIPAddress"), TEXT_LIMIT)
    ip_address = _ip_address(source_ip) if source_ip else None
    event_type = _text(get("eventType"), FIELD_LIMITS["event_type"])
    recipient = _text(get("recipientAccountId"), FIELD_LIMITS["recipient_account_id"])
    read_only = _read_only(get("readOnly"), event_name)

    error_code = _text(get("errorCode"), FIELD_LIMITS["error_code"])
    error_message = _text(get("errorMessage"), TEXT_LIMIT)
    succeeded = not error_code
    console_login = ""
    if event_name == "ConsoleLogin":
        response = get("responseElements")
        outcome = response.get("ConsoleLogin") if isinstance(response, dict) else None
        outcome = outcome.strip().lower() if isinstance(outcome, str) else ""
        if outcome == "failure" or (outcome != "success" and error_message):
            succeeded = False
        console_login = "Success" if succeeded else "Failure"

    administrative = (
        not read_only
        and (not event_type or event_type == "AwsApiCall")
        and get("managementEvent") is not False
        and get("eventCategory") != "Data"
        and is_administrative(event_name, event_source, False)
    )

    parameters = get("requestParameters")
    stored_parameters = parameters
    if raw_size > REQUEST_PARAMETERS_LIMIT and parameters is not None:
        serialized = orjson.dumps(parameters)
        if len(serialized) > REQUEST_PARAMETERS_LIMIT:
            stored_parameters = _truncated(serialized)

    return _build(
        event_id=event_id[: FIELD_LIMITS["event_id"]],
        event_time=event_time,
        event_name=event_name[: FIELD_LIMITS["event_name"]],
        event_source=event_source[: FIELD_LIMITS["event_source"]],
        service=service_of(event_source),
        event_type=event_type,
        region=_text(get("awsRegion"), FIELD_LIMITS["region"]),
        recipient_account_id=recipient,
        source_ip=source_ip[: FIELD_LIMITS["source_ip"]],
        ip_address=ip_address,
        user_agent=_text(get("userAgent"), TEXT_LIMIT),
        principal=principal[: FIELD_LIMITS["principal"]],
        principal_name=principal_name[: FIELD_LIMITS["principal_name"]],
        principal_type=principal_type,
        access_key_id=_text(identity.get("accessKeyId"), FIELD_LIMITS["access_key_id"]),
        read_only=read_only,
        administrative=administrative,
        succeeded=succeeded,
        error_code=error_code,
        error_message=error_message,
        console_login=console_login,
        mfa_used=_mfa_used(get("additionalEventData"), identity),
        resources=_resources(record, parameters, recipient),
        request_parameters=stored_parameters,
        raw=raw,
    )


def normalize_batch(records: Iterable[Any]) -> BatchResult:
    """Normalize every record; a bad one, whatever its type, is kept in ``rejected`` with its reason."""
    result = BatchResult()
    for record in records:
        try:
            result.activities.append(normalize(record))
        except MalformedRecord as error:
            result.rejected.append((record_text(record), error.reason))
        except Exception as error:  # a bug must not stop a batch: the record is kept for inspection
            reason = f"the record could not be normalized ({type(error).__name__}: {error})"
            result.rejected.append((record_text(record), reason))
    return result


def principal_key(record: Any) -> str:
    """The stable principal key of a record (see the module docstring), "" for a non-record."""
    if not isinstance(record, dict):
        return ""
    identity = record.get("userIdentity")
    return _principal(identity if isinstance(identity, dict) else {}, record)[0]


def is_administrative(event_name: str, event_source: str, read_only: bool) -> bool:
    """Whether a call is an administrative activity: a write to a management API.

    Every call that is not read-only is administrative, whether it succeeded or failed, except:
    calls to services that authenticate rather than configure (sign-in, hence ConsoleLogin; STS,
    hence every AssumeRole*, GetSessionToken and GetFederationToken; the Identity Center portal
    and OAuth endpoints; the SSM agent's message channels), and data-plane writes of otherwise
    administrative services (S3 object-level calls such as PutObject/DeleteObject while bucket-level
    calls such as CreateBucket or PutBucketAcl count; Lambda Invoke; KMS cryptographic operations;
    DynamoDB item writes; SQS/SNS/Kinesis messages; CloudWatch Logs PutLogEvents; SSM agent reports).
    A denylist rather than a list of services, so that a service added by AWS tomorrow counts.
    """
    if read_only or not event_name or event_name == "ConsoleLogin":
        return False
    service = service_of(event_source)
    if service in AUTHENTICATION_SERVICES:
        return False
    return event_name not in DATA_PLANE_EVENTS.get(service, _NO_EVENTS)


def service_of(event_source: str) -> str:
    """Short service name of an event source: "ec2.amazonaws.com" -> "ec2"."""
    return _service_of(event_source) if isinstance(event_source, str) else ""


@lru_cache(maxsize=1024)
def _service_of(event_source: str) -> str:
    source = event_source.strip().lower()
    for suffix in (".amazonaws.com", ".amazon.com"):
        if source.endswith(suffix):
            source = source[: -len(suffix)]
            break
    return source[: FIELD_LIMITS["service"]]


def _required(record: dict, key: str) -> str:
    value = record.get(key)
    if type(value) is str and value:
        return value
    raise MalformedRecord(_problem(record, key, value))


def _problem(record: dict, key: str, value: Any) -> str:
    if key not in record:
        wanted = key.lower()
        for other in record:
            if isinstance(other, str) and other.lower().replace("_", "") == wanted:
                return f"{key} is missing (the record has {other!r}: CloudTrail keys are camelCase)"
        return f"{key} is missing"
    if value is None:
        return f"{key} is null"
    if isinstance(value, str):
        return f"{key} is empty"
    return f"{key} is not a string (got {_kind(value)})"


def _event_time(record: dict) -> datetime:
    value = record.get("eventTime")
    moment = None
    if type(value) is str and value:
        # fromisoformat also takes a bare date: an event time needs its time of day.
        if "T" in value or " " in value:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
        if moment is None:
            raise MalformedRecord(f"eventTime {_show(value)} is not a time")
    elif isinstance(value, datetime):
        moment = value
    else:
        raise MalformedRecord(_problem(record, "eventTime", value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is not UTC:
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise MalformedRecord(f"eventTime {_show(value)} is out of range") from None
    return moment


def _text(value: Any, limit: int) -> str:
    """A string field cut to the column; numbers as text; anything else is absent. (No NUL check:
    ``_storable`` already removed them from the whole record.)"""
    if type(value) is str:
        return value if len(value) <= limit else value[:limit]
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)[:limit]
    return ""


def _read_only(value: Any, event_name: str) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, str):
        flag = value.strip().lower()
        if flag == "true":
            return True
        if flag == "false":
            return False
    return event_name.startswith(READ_ONLY_PREFIXES)


@lru_cache(maxsize=8192)
def _ip_address(value: str) -> str | None:
    # Cheap refusal first: most non-IPs are AWS service names ("ec2.amazonaws.com", "AWS Internal").
    if not (value[0].isdigit() or ":" in value) or "%" in value:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def _mfa_used(extra: Any, identity: dict) -> bool | None:
    if isinstance(extra, dict):
        flag = extra.get("MFAUsed")
        if flag == "Yes":
            return True
        if flag == "No":
            return False
    context = identity.get("sessionContext")
    if isinstance(context, dict):
        attributes = context.get("attributes")
        if isinstance(attributes, dict):
            flag = attributes.get("mfaAuthenticated")
            if flag is True or flag == "true":
                return True
            if flag is False or flag == "false":
                return False
    return None


# --------------------------------------------------------------------------------------------------
# Principal


def _principal(identity: dict, record: dict) -> tuple[str, str, str]:
    """(stable key, human name, principal type) of a record's userIdentity."""
    kind = identity.get("type")
    kind = kind if isinstance(kind, str) else ""
    account = _text(identity.get("accountId"), 64)
    principal_id = _text(identity.get("principalId"), 512)
    arn = _text(identity.get("arn"), ARN_LIMIT)
    user_name = _text(identity.get("userName"), 256)
    key = name = ""

    if kind == "IAMUser":
        owner = account or _text(record.get("recipientAccountId"), 64)
        if arn:
            key = arn
        elif user_name and owner:
            # Failed console sign-ins leave the ARN out.
            key = f"arn:aws:iam::{owner}:user/{user_name}"
        name = user_name or _last_segment(arn)
    elif kind == "AssumedRole":
        key, name = _assumed_role(identity, arn, principal_id, account)
    elif kind == "FederatedUser":
        name = _last_segment(arn) or principal_id.partition(":")[2]
        if arn:
            key = arn
        elif account and name:
            key = f"arn:aws:sts::{account}:federated-user/{name}"
    elif kind == "Root":
        owner = account or _text(record.get("recipientAccountId"), 64)
        if arn.endswith(":root"):
            key = arn
        elif owner:
            key = f"arn:aws:iam::{owner}:root"
        name = "root"
    elif kind == "AWSService" or (not kind and identity.get("invokedBy")):
        kind = "AWSService"
        service = _text(identity.get("invokedBy"), 256)
        if not service:
            caller = record.get("sourceIPAddress")
            if isinstance(caller, str) and caller.endswith(".amazonaws.com"):
                service = caller[:256]
        key = name = service
    elif kind == "AWSAccount":
        if account:
            key = f"account:{account}:{principal_id}" if principal_id else f"account:{account}"
        name = user_name or account
    else:
        if kind != "IdentityCenterUser":
            kind = "Unknown"
        user_id = _text(identity.get("userId"), 256)
        if not user_id:
            on_behalf_of = identity.get("onBehalfOf")
            if isinstance(on_behalf_of, dict):
                user_id = _text(on_behalf_of.get("userId"), 256)
        if user_id:
            key = f"identitycenter:{user_id}"
        name = user_name or user_id or principal_id

    if not key:
        fallback = principal_id or account or _text(record.get("recipientAccountId"), 64)
        key = f"unknown:{fallback}" if fallback else "unknown"
    return key, name, kind if kind in PRINCIPAL_TYPES else "Unknown"


def _assumed_role(identity: dict, arn: str, principal_id: str, account: str) -> tuple[str, str]:
    if arn:
        return arn, _last_segment(arn)
    # principalId is "<role id>:<session name>"; the role comes from the session issuer.
    session = principal_id.partition(":")[2]
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    if not isinstance(issuer, dict):
        return "", session
    issuer_arn = _text(issuer.get("arn"), ARN_LIMIT)
    role = _text(issuer.get("userName"), 256) or _last_segment(issuer_arn)
    owner = _text(issuer.get("accountId"), 64) or account
    partition = issuer_arn.split(":", 2)[1] if issuer_arn.startswith("arn:") else "aws"
    if role and session and owner:
        return f"arn:{partition}:sts::{owner}:assumed-role/{role}/{session}", session
    return "", session


def _last_segment(arn: str) -> str:
    return arn.rpartition("/")[2] if "/" in arn else ""


# --------------------------------------------------------------------------------------------------
# Resources


def _resources(record: dict, parameters: Any, account: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    listed = record.get("resources")
    if listed:
        if isinstance(listed, dict):
            listed = [listed]
        if isinstance(listed, list):
            for item in listed:
                if isinstance(item, dict):
                    kind = _text(item.get("type"), 128)
                    arn = item.get("ARN") or item.get("ARNPrefix")
                    arn = _text(arn, ARN_LIMIT) if isinstance(arn, str) else ""
                    _add(found, kind, _resource_name(kind, arn), _text(item.get("accountId"), 64))
    if isinstance(parameters, dict):
        bucket = parameters.get("bucketName")
        if isinstance(bucket, str):
            _add(found, S3_BUCKET, bucket[:ARN_LIMIT], account)
        instance = parameters.get("instanceId")
        if isinstance(instance, str):
            _add(found, EC2_INSTANCE, instance[:ARN_LIMIT], account)
        instances = parameters.get("instanceIds")
        if isinstance(instances, list):
            for instance in instances:
                if isinstance(instance, str):
                    _add(found, EC2_INSTANCE, instance[:ARN_LIMIT], account)
        _add_instance_set(found, parameters.get("instancesSet"), account)
    response = record.get("responseElements")
    if isinstance(response, dict) and "instancesSet" in response:
        _add_instance_set(found, response["instancesSet"], account)
    return found


def _add_instance_set(found: list, instance_set: Any, account: str) -> None:
    items = instance_set.get("items") if isinstance(instance_set, dict) else None
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                instance = item.get("instanceId")
                if isinstance(instance, str):
                    _add(found, EC2_INSTANCE, instance[:ARN_LIMIT], account)


def _add(found: list, kind: str, name: str, account: str) -> None:
    if not name or len(found) >= MAX_RESOURCES:
        return
    for known in found:
        if known["name"] == name and known["type"] == kind:
            return
    found.append({"type": kind, "name": name, "account_id": account})


def _resource_name(kind: str, arn: str) -> str:
    if kind == S3_BUCKET and arn.startswith("arn:") and ":::" in arn:
        return arn.partition(":::")[2]
    if kind == EC2_INSTANCE and "/" in arn:
        return arn.rpartition("/")[2]
    return arn


# --------------------------------------------------------------------------------------------------
# Storable JSON


def _storable(record: dict) -> tuple[dict, Any, int]:
    """(record fit for storage, value for ``raw``, serialized size).

    The common case costs one ``orjson.dumps``; only records that orjson refuses (non-string keys,
    invalid UTF-8, huge integers) or that hold NUL characters are rebuilt.
    """
    try:
        data = orjson.dumps(record, option=_STRICT)
    except TypeError:
        data = None
    # orjson writes NUL as \u0000; most records have no backslash at all, and memchr is cheap.
    if data is None or (b"\\" in data and b"\\u0000" in data):
        try:
            record = _clean(record)
            data = orjson.dumps(record, option=_STRICT)
        except (TypeError, RecursionError) as error:
            raise MalformedRecord(f"the record cannot be stored as JSON ({error})") from None
    size = len(data)
    return record, (record if size <= RAW_LIMIT else _shrink(record, data)), size


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = str(value)
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {
            _clean(key if isinstance(key, str) else str(key)): _clean(item) for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value) if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    return _clean(str(value))


def _shrink(record: dict, data: bytes) -> dict:
    """Fit ``raw`` under RAW_LIMIT by truncating its largest top-level values, keeping the rest."""
    parts = sorted(
        ((orjson.dumps(value), key) for key, value in record.items()), key=lambda part: -len(part[0])
    )
    shrunk = dict(record)
    size = len(data)
    for serialized, key in parts:
        if size <= RAW_LIMIT - 64 * 1024:
            break
        marker = _truncated(serialized)
        shrunk[key] = marker
        size -= len(serialized) - len(orjson.dumps(marker))
    return shrunk if size <= RAW_LIMIT else _truncated(data)


def _truncated(serialized: bytes) -> dict[str, Any]:
    return {
        "_truncated": True,
        "size": len(serialized),
        "preview": serialized[:PREVIEW_BYTES].decode("utf-8", "ignore"),
    }


def _unwrap_lookup_event(event: dict) -> Any:
    """A LookupEvents item (the CLI's ``lookup-events`` output) carries the record as a JSON string."""
    try:
        record = orjson.loads(event["CloudTrailEvent"])
    except orjson.JSONDecodeError as error:
        raise MalformedRecord(f"CloudTrailEvent is not valid JSON ({error})") from None
    if not isinstance(record, dict):
        raise MalformedRecord(f"CloudTrailEvent is not a JSON object (got {_kind(record)})")
    return record


def record_text(record: Any, limit: int = RAW_LIMIT) -> str:
    """A record as text for the rejected-records table: JSON where possible, at most ``limit`` bytes."""
    try:
        if isinstance(record, BadLine):
            text = record.text
        elif isinstance(record, str):
            text = record
        elif isinstance(record, (bytes, bytearray)):
            text = bytes(record).decode("utf-8", "replace")
        else:
            try:
                text = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS, default=repr).decode()
            except TypeError:
                text = repr(record)
    except Exception:
        text = f"<unprintable {type(record).__name__}>"
    return _clip(text, limit)


def _clip(text: str, limit: int) -> str:
    data = text.replace("\x00", "\ufffd").encode("utf-8", "replace")
    if len(data) <= limit:
        return data.decode("utf-8")
    marker = f"\n[truncated: {len(data):,} bytes in all]"
    return data[: limit - len(marker.encode())].decode("utf-8", "ignore") + marker


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "...")


# --------------------------------------------------------------------------------------------------
# Files


def iter_records(data: bytes | bytearray | memoryview | str | IO) -> Iterator[Any]:
    """The records of an exported CloudTrail log, gzip-compressed or not (told by its magic bytes):

    - a ``{"Records": [...]}`` object (what trails deliver to S3), also several in JSON lines;
    - a JSON array of records, or a single record;
    - JSON lines, one record per line, read as a stream; a line that is not JSON is yielded as a
      ``BadLine`` and reading goes on;
    - the CLI's ``lookup-events`` output ``{"Events": [...]}`` (``normalize`` unwraps CloudTrailEvent).

    ``data`` is the content (bytes or text) or a readable file object, binary or text, seekable or
    not (an S3 body). Documents spread over several lines are read whole; CloudTrail files are small.
    A damaged compressed stream ends the records with a ``BadLine`` saying so.
    """
    if isinstance(data, str):
        stream: IO[bytes] = io.BytesIO(data.encode("utf-8", "surrogatepass"))
    elif isinstance(data, (bytes, bytearray, memoryview)):
        content = bytes(data)
        records = _trail_file_records(content)
        if records is not None:
            yield from records
            return
        stream = io.BytesIO(content)
        if content[:2] == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=stream, mode="rb")
    elif hasattr(data, "read"):
        stream = _open_stream(data)
    else:
        raise TypeError(f"iter_records() reads bytes, text or a file, not {type(data).__name__}")
    position = _Position()
    try:
        yield from _records_in(stream, position)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        yield BadLine(position.line, "", f"the compressed file is damaged or truncated ({error})")


def _trail_file_records(content: bytes) -> list | None:
    """The records of what trails deliver, one ``{"Records": [...]}`` document, read whole in two C
    calls (about twice as fast as the line reader); None for anything else, which the line reader
    then reads with its error reporting."""
    try:
        value = orjson.loads(gzip.decompress(content) if content[:2] == GZIP_MAGIC else content)
    except (EOFError, zlib.error, gzip.BadGzipFile, orjson.JSONDecodeError):
        return None
    if isinstance(value, dict) and "eventID" not in value and isinstance(value.get("Records"), list):
        return value["Records"]
    return None


class _Position:
    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line = 0


def _open_stream(source: IO) -> IO[bytes]:
    first = source.read(CHUNK)
    if not first:
        return io.BytesIO(b"")
    text = isinstance(first, str)
    head = first.encode("utf-8", "surrogatepass") if text else bytes(first)
    while len(head) < 2:  # a short read must not hide the gzip magic
        more = source.read(CHUNK)
        if not more:
            break
        head += more.encode("utf-8", "surrogatepass") if text else bytes(more)
    reader = io.BufferedReader(_Chained(head, source, text), buffer_size=CHUNK)
    return gzip.GzipFile(fileobj=reader, mode="rb") if head[:2] == GZIP_MAGIC else reader


class _Chained(io.RawIOBase):
    """The bytes already read (to sniff the format), then the rest of the source, as one stream."""

    def __init__(self, head: bytes, source: IO, text: bool):
        self._pending = memoryview(head)
        self._source = source
        self._text = text

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not len(self._pending):
            chunk = self._source.read(len(target))
            if not chunk:
                return 0
            self._pending = memoryview(chunk.encode("utf-8", "surrogatepass") if self._text else chunk)
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def _records_in(stream: IO[bytes], position: _Position) -> Iterator[Any]:
    first = b""
    for line in stream:
        position.line += 1
        first = line.strip()
        if position.line == 1 and first.startswith(UTF8_BOM):
            first = first[len(UTF8_BOM) :].strip()
        if first:
            break
    if not first:
        return
    try:
        value = orjson.loads(first)
    except orjson.JSONDecodeError:
        # A document spread over lines (pretty-printed), or JSON lines whose first line is bad.
        yield from _document(first + b"\n" + stream.read(), position.line)
        return
    yield from _expand(value, position.line)
    for line in stream:
        position.line += 1
        line = line.strip()
        if not line:
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield BadLine(position.line, record_text(line), f"not valid JSON ({error})")
            continue
        yield from _expand(value, position.line)


def _document(document: bytes, start: int) -> Iterator[Any]:
    try:
        value = orjson.loads(document)
    except orjson.JSONDecodeError as error:
        whole_error = error
    else:
        yield from _expand(value, start)
        return
    # Not one document. JSON lines with some bad lines (most lines parse on their own), or one
    # broken document, rejected as a whole rather than as hundreds of meaningless fragments.
    lines: list[tuple[int, bytes, Any, Exception | None]] = []
    good = 0
    for offset, line in enumerate(document.split(b"\n")):
        line = line.strip()
        if not line:
            continue
        try:
            lines.append((start + offset, line, orjson.loads(line), None))
            good += 1
        except orjson.JSONDecodeError as error:
            lines.append((start + offset, line, None, error))
    if good and good >= len(lines) - good:
        for number, line, value, error in lines:
            if error is None:
                yield from _expand(value, number)
            else:
                yield BadLine(number, record_text(line), f"not valid JSON ({error})")
        return
    yield BadLine(
        start - 1 + whole_error.lineno, record_text(document), f"the file is not valid JSON ({whole_error})"
    )


def _expand(value: Any, line_number: int) -> Iterator[Any]:
    if isinstance(value, dict) and "eventID" not in value:
        if "Records" in value:
            records = value["Records"]
            if isinstance(records, list):
                yield from records
            else:
                error = f'"Records" is not a list (got {_kind(records)})'
                yield BadLine(line_number, record_text(value), error)
            return
        events = value.get("Events")
        if isinstance(events, list):
            yield from events
            return
    if isinstance(value, list):
        yield from value
        return
    yield value
