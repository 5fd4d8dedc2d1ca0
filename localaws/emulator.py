"""The local AWS emulator: moto in server mode plus what moto lacks (CloudTrail LookupEvents).

Tests and the demo never reach the real AWS; they point boto3 (through ``connectors.aws.client``) at
an :class:`Emulator`, a moto WSGI app served on loopback by a thread of the current process. On top of
moto this module adds:

* **CloudTrail LookupEvents** (``install()`` assigns ``lookup_events`` onto moto's
  ``CloudTrailResponse``), served from an :class:`EventStore` with AWS's request and response shape:
  one lookup attribute at most, StartTime/EndTime inclusive, MaxResults 1..50 (default 50), an opaque
  NextToken bound to the query that issued it, events newest first, per account and per the region the
  client signs for. Its error codes are AWS's (InvalidLookupAttributesException,
  InvalidTimeRangeException, InvalidMaxResultsException, InvalidNextTokenException).
* **Throttling** as AWS does it: more than ``LOOKUP_EVENTS_PER_SECOND`` LookupEvents calls within a
  sliding one-second window, per account and region, answer HTTP 400
  ``{"__type": "ThrottlingException", "message": "Rate exceeded"}`` so botocore's retry modes back off.
  Each emulator has its own :class:`Throttle` whose limit and window a test may change.
* **Fault injection** (:class:`Faults`): the next N LookupEvents calls answer a 5xx, or answer only
  after a stall (so may any other request, by method and path); :class:`RequestCounter` counts the
  requests that reached moto, so a test can tell how often a side effect (``PUT /bucket?acl``) was
  asked of AWS.
* **IAM authentication and authorization** on demand (:func:`enable_auth`): moto checks signatures
  against the IAM users' keys and every action (LookupEvents as ``cloudtrail:LookupEvents``) against
  their policies. Off by default so a scenario can create users and keys first. Query-protocol services
  (STS, IAM, EC2) answer InvalidClientTokenId, SignatureDoesNotMatch and AccessDenied as AWS does;
  CloudTrail, a JSON-protocol service, answers AWS's JSON equivalents (UnrecognizedClientException,
  InvalidSignatureException, AccessDeniedException), which moto alone renders unreadably. A role whose
  trust policy names the account (``arn:aws:iam::<account>:root``) can be assumed by that account's
  users whose policies allow ``sts:AssumeRole``, as in AWS (moto alone compares principals literally).

Cross-process append protocol (the demo and the benchmarks feed events into a running emulator):
``POST /_localaws/cloudtrail/events`` with the JSON body ``{"Records": [<CloudTrail record>, ...]}``
(the shape of a CloudTrail log file) answers ``200 {"Added": n, "Count": total}``; records whose
eventID is already stored are skipped, so a retried append is harmless. ``GET`` on the same path answers
``{"Count": total}`` and ``DELETE`` empties the store. The route is unsigned and outside AWS's API,
which is why the emulator binds loopback by default. :func:`append_events` is the client.

Moto's own state (IAM, S3, EC2...) and the authentication switch are global to the process: two
emulators in one process share them, but each keeps its own event store and throttle.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
import urllib.request
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

#: AWS's documented limit: two LookupEvents requests per second, per account, per region.
LOOKUP_EVENTS_PER_SECOND = 2
THROTTLE_WINDOW_SECONDS = 1.0
MAX_RESULTS = 50

EVENTS_PATH = "/_localaws/cloudtrail/events"
# How a request reaches the emulator that served it, from inside moto's response class.
ENVIRON_KEY = "localaws.emulator"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
LOOKUP_ATTRIBUTE_KEYS = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)

# requestParameters keys that name a resource, and the type LookupEvents reports for them. AWS derives
# Resources per event type from its own catalogue; this covers what the scenarios produce.
REQUEST_RESOURCE_FIELDS = {
    "bucketName": "AWS::S3::Bucket",
    "userName": "AWS::IAM::User",
    "roleName": "AWS::IAM::Role",
    "groupName": "AWS::IAM::Group",
    "policyArn": "AWS::IAM::Policy",
    "groupId": "AWS::EC2::SecurityGroup",
    "instanceId": "AWS::EC2::Instance",
    "keyName": "AWS::EC2::KeyPair",
}
ARN_RESOURCE_TYPES = {
    "s3": "AWS::S3::Bucket",
    "iam:user": "AWS::IAM::User",
    "iam:role": "AWS::IAM::Role",
    "iam:policy": "AWS::IAM::Policy",
    "ec2:instance": "AWS::EC2::Instance",
    "ec2:security-group": "AWS::EC2::SecurityGroup",
    "cloudtrail:trail": "AWS::CloudTrail::Trail",
}

# Signs NextTokens so a made-up or edited token is refused as AWS refuses it; tokens do not outlive
# the process, as AWS's do not outlive their expiry.
_TOKEN_KEY = secrets.token_bytes(32)


# --- The event store ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One CloudTrail record, with its LookupEvents ``Event`` computed once when it is stored."""

    time: float
    event_id: str
    event: dict[str, Any]

    @property
    def sort_key(self) -> tuple[float, str]:
        return (self.time, self.event_id)

    def matches(self, key: str, value: str) -> bool:
        if key == "ResourceType":
            return any(r["ResourceType"] == value for r in self.event["Resources"])
        if key == "ResourceName":
            return any(r["ResourceName"] == value for r in self.event["Resources"])
        return self.event.get(key) == value


class EventStore:
    """CloudTrail events in memory, per (account id, region), kept sorted by eventTime.

    Thread-safe: writers swap in a new sorted list under a lock, so a LookupEvents call reads a
    consistent snapshot without blocking appends. The region is the record's ``awsRegion``; the
    account is ``recipientAccountId`` (else ``userIdentity.accountId``, else moto's default account).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions: dict[tuple[str, str], list[StoredEvent]] = {}
        self._ids: dict[tuple[str, str], set[str]] = {}

    def add(self, records: Iterable[dict[str, Any]]) -> int:
        """Store CloudTrail records (dicts as in a log file); returns how many were new.

        A record without a readable eventTime raises ValueError and nothing of the batch is stored.
        """
        prepared = [_prepare(record) for record in records]  # parsing happens outside the lock
        added = 0
        with self._lock:
            grouped: dict[tuple[str, str], list[StoredEvent]] = {}
            for partition, stored in prepared:
                ids = self._ids.setdefault(partition, set())
                if stored.event_id in ids:
                    continue
                ids.add(stored.event_id)
                grouped.setdefault(partition, []).append(stored)
                added += 1
            for partition, new in grouped.items():
                # Timsort merges the two sorted runs in linear time.
                merged = [*self._partitions.get(partition, ()), *new]
                merged.sort(key=_sort_key)
                self._partitions[partition] = merged
        return added

    def clear(self) -> None:
        """Forget every event."""
        with self._lock:
            self._partitions = {}
            self._ids = {}

    def count(self, *, account_id: str | None = None, region: str | None = None) -> int:
        """How many events are stored, optionally for one account and/or region only."""
        with self._lock:
            return sum(
                len(events)
                for (account, event_region), events in self._partitions.items()
                if account_id in (None, account) and region in (None, event_region)
            )

    def records(self, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION) -> list[dict]:
        """The stored records of one account and region, newest first, as LookupEvents orders them."""
        events = self._partitions.get((account_id, region), [])
        return [json.loads(stored.event["CloudTrailEvent"]) for stored in reversed(events)]

    def lookup(
        self,
        *,
        account_id: str,
        region: str,
        start: float | None = None,
        end: float | None = None,
        attribute: tuple[str, str] | None = None,
        before: tuple[float, str] | None = None,
        limit: int = MAX_RESULTS,
    ) -> tuple[list[StoredEvent], bool]:
        """Up to ``limit`` events newest first, within [start, end], older than ``before`` (a sort key,
        exclusive), matching ``attribute``; and whether more remain."""
        events = self._partitions.get((account_id, region), [])
        high = len(events)
        if end is not None:
            high = bisect.bisect_right(events, end, key=_event_time)
        if before is not None:
            high = min(high, bisect.bisect_left(events, before, key=_sort_key))
        found: list[StoredEvent] = []
        for index in range(high - 1, -1, -1):
            stored = events[index]
            if start is not None and stored.time < start:
                break
            if attribute is not None and not stored.matches(*attribute):
                continue
            found.append(stored)
            if len(found) > limit:
                break
        return found[:limit], len(found) > limit


def _sort_key(stored: StoredEvent) -> tuple[float, str]:
    return stored.sort_key


def _event_time(stored: StoredEvent) -> float:
    return stored.time


def _prepare(record: dict[str, Any]) -> tuple[tuple[str, str], StoredEvent]:
    record = dict(record)
    when = _parse_time(record.get("eventTime"))
    if when is None:
        raise ValueError(f"CloudTrail record without a valid eventTime: {record.get('eventID')!r}")
    # Stored in CloudTrail's own format so CloudTrailEvent always reads like a real record.
    record["eventTime"] = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    record.setdefault("eventID", str(uuid.uuid4()))
    identity = record.get("userIdentity") or {}
    account = str(record.get("recipientAccountId") or identity.get("accountId") or DEFAULT_ACCOUNT_ID)
    region = str(record.get("awsRegion") or DEFAULT_REGION)
    event: dict[str, Any] = {
        "EventId": record["eventID"],
        "EventName": record.get("eventName"),
        "ReadOnly": _read_only(record.get("readOnly")),
        "AccessKeyId": identity.get("accessKeyId"),
        "EventTime": when,
        "EventSource": record.get("eventSource"),
        "Username": _username(identity),
        "Resources": _resources(record),
        "CloudTrailEvent": json.dumps(record, default=str),
    }
    # AWS leaves out what an event does not have rather than sending nulls.
    event = {key: value for key, value in event.items() if value is not None}
    return (account, region), StoredEvent(time=when, event_id=record["eventID"], event=event)


def _read_only(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.lower()
    return "true" if value else "false"


def _username(identity: dict[str, Any]) -> str | None:
    kind = identity.get("type")
    if identity.get("userName"):
        return identity["userName"]
    if kind == "Root":
        return "root"
    arn = identity.get("arn") or ""
    if kind in {"AssumedRole", "FederatedUser"} and "/" in arn:
        # The session name, as the console's event history shows it.
        return arn.rsplit("/", 1)[-1]
    return None


def _resources(record: dict[str, Any]) -> list[dict[str, str]]:
    found: list[tuple[str, str]] = []
    for resource in record.get("resources") or []:
        arn = resource.get("ARN") or ""
        kind = resource.get("type") or _arn_type(arn)
        if kind and arn:
            found.append((kind, _arn_name(arn)))
    for section in ("requestParameters", "responseElements"):
        params = record.get(section)
        if not isinstance(params, dict):
            continue
        for field, kind in REQUEST_RESOURCE_FIELDS.items():
            if isinstance(params.get(field), str):
                found.append((kind, params[field]))
        instances = (params.get("instancesSet") or {}).get("items") or []
        found.extend(("AWS::EC2::Instance", i["instanceId"]) for i in instances if i.get("instanceId"))
        if record.get("eventSource") == "cloudtrail.amazonaws.com" and isinstance(params.get("name"), str):
            found.append(("AWS::CloudTrail::Trail", params["name"]))
    unique = dict.fromkeys(found)
    return [{"ResourceType": kind, "ResourceName": name} for kind, name in unique]


def _arn_type(arn: str) -> str | None:
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, resource = parts[2], parts[5]
    if service == "s3":
        return ARN_RESOURCE_TYPES["s3"]
    return ARN_RESOURCE_TYPES.get(f"{service}:{resource.split('/', 1)[0]}")


def _arn_name(arn: str) -> str:
    resource = arn.split(":", 5)[-1]
    return resource.rsplit("/", 1)[-1]


def _parse_time(value: Any) -> float | None:
    """Seconds since the epoch from a number (what boto3 sends), an ISO 8601 string or a datetime."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


# --- Throttling --------------------------------------------------------------------------------------


class Throttle:
    """A sliding-window limit on LookupEvents calls, per (account id, region).

    ``limit=None`` follows the module's ``LOOKUP_EVENTS_PER_SECOND`` (read on every call, so a test may
    patch it); only accepted calls count against the window, as with AWS a client that backs off gets
    through. ``throttled`` counts the refusals, for tests and benchmarks.
    """

    def __init__(self, limit: int | None = None, window: float = THROTTLE_WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self.throttled = 0
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], deque[float]] = {}

    def allow(self, key: tuple[str, str]) -> bool:
        limit = LOOKUP_EVENTS_PER_SECOND if self.limit is None else self.limit
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            if len(calls) >= limit:
                self.throttled += 1
                return False
            calls.append(now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._calls = {}
            self.throttled = 0


# Used when LookupEvents is reached without an Emulator in between (moto's in-process mock_aws).
default_store = EventStore()
default_throttle = Throttle()


# --- LookupEvents on moto's CloudTrail ---------------------------------------------------------------


LOOKUP_EVENTS = "LookupEvents"


class Faults:
    """Failures a test or benchmark asks for: the next N LookupEvents calls answer a server error,
    or answer only after a stall, as AWS does during an incident, so retries, timeouts and recovery
    are exercised against real HTTP."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining = 0
        self.status = 500
        self._stalls = 0
        self.stall_seconds = 0.0
        self.stall_request = LOOKUP_EVENTS
        self.stalled = 0

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._remaining, self.status = count, status

    def stall_next(self, count: int, seconds: float, request: str = LOOKUP_EVENTS) -> None:
        """The next ``count`` LookupEvents calls, or requests of the :class:`RequestCounter` key
        ``request`` (``"PUT /bucket?acl"``), wait ``seconds`` before moto handles them; ``stalled``
        counts those that have started waiting, so a test can act while a client waits for its answer
        (a client that gives up meanwhile does not stop AWS from doing what it asked)."""
        with self._lock:
            self._stalls, self.stall_seconds, self.stall_request, self.stalled = count, seconds, request, 0

    def take(self) -> bool:
        with self._lock:
            if self._remaining <= 0:
                return False
            self._remaining -= 1
            return True

    def take_stall(self, request: str) -> float:
        """Seconds ``request`` is to wait (0: none)."""
        with self._lock:
            if self._stalls <= 0 or request != self.stall_request:
                return 0.0
            self._stalls -= 1
            self.stalled += 1
            return self.stall_seconds

    def clear(self) -> None:
        self.fail_next(0)
        self.stall_next(0, 0.0)


class RequestCounter:
    """How many requests reached moto, by method, path and query (``"PUT /bucket?acl"``), so a test
    can tell how often a side effect was asked of AWS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, environ: dict[str, Any]) -> str:
        """Count the request; returns its key."""
        query = environ.get("QUERY_STRING", "")
        key = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}" + (f"?{query}" if query else "")
        with self._lock:
            self._counts[key] += 1
        return key

    def __getitem__(self, key: str) -> int:
        with self._lock:
            return self._counts[key]

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class _LookupError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _json_response(status: int, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return json.dumps(body), {"status": status, "Content-Type": JSON_CONTENT_TYPE}


def _error(code: str, message: str) -> tuple[str, dict[str, Any]]:
    return _json_response(400, {"__type": code, "message": message})


def lookup_events(self: Any) -> tuple[str, dict[str, Any]]:
    """moto handler (a method of ``CloudTrailResponse`` once installed) for CloudTrail LookupEvents.

    moto authenticates and authorizes the call as ``cloudtrail:LookupEvents`` before this runs.
    """
    emulator = self.normalized_request.environ.get(ENVIRON_KEY)
    store = emulator.store if emulator else default_store
    throttle = emulator.throttle if emulator else default_throttle
    account, region = self.current_account, self.region
    if emulator and (stall := emulator.faults.take_stall(LOOKUP_EVENTS)):
        time.sleep(stall)
    if emulator and emulator.faults.take():
        return _json_response(
            emulator.faults.status, {"__type": "InternalFailure", "message": "Internal failure"}
        )
    if not throttle.allow((account, region)):
        return _error("ThrottlingException", "Rate exceeded")
    try:
        params = json.loads(self.body or "{}")
        if not isinstance(params, dict):
            raise ValueError("not an object")
    except ValueError:
        return _error("SerializationException", "Start of structure or map found where not expected.")
    try:
        query = _LookupQuery.parse(params, account=account, region=region)
        events, more = store.lookup(
            account_id=account,
            region=region,
            start=query.start,
            end=query.end,
            attribute=query.attribute,
            before=query.before,
            limit=query.limit,
        )
    except _LookupError as error:
        return _error(error.code, error.message)
    body: dict[str, Any] = {"Events": [stored.event for stored in events]}
    if more:
        body["NextToken"] = _encode_token(account, region, query.fingerprint, events[-1].sort_key)
    return _json_response(200, body)


@dataclass(frozen=True)
class _LookupQuery:
    start: float | None
    end: float | None
    attribute: tuple[str, str] | None
    limit: int
    fingerprint: str
    before: tuple[float, str] | None

    @classmethod
    def parse(cls, params: dict[str, Any], *, account: str, region: str) -> _LookupQuery:
        attributes = params.get("LookupAttributes") or []
        if not isinstance(attributes, list):
            raise _LookupError("InvalidLookupAttributesException", "LookupAttributes must be a list.")
        if len(attributes) > 1:
            raise _LookupError(
                "InvalidLookupAttributesException", "You cannot specify more than one lookup attribute."
            )
        attribute = None
        if attributes:
            key = (attributes[0] or {}).get("AttributeKey")
            value = (attributes[0] or {}).get("AttributeValue")
            if key not in LOOKUP_ATTRIBUTE_KEYS:
                valid = ", ".join(LOOKUP_ATTRIBUTE_KEYS)
                raise _LookupError(
                    "InvalidLookupAttributesException",
                    f"Lookup attribute key {key!r} is not valid: use {valid}.",
                )
            if not isinstance(value, str) or not value:
                raise _LookupError(
                    "InvalidLookupAttributesException", "The lookup attribute value must not be empty."
                )
            attribute = (key, value)
        start, end = _time_param(params, "StartTime"), _time_param(params, "EndTime")
        if start is not None and end is not None and start > end:
            raise _LookupError("InvalidTimeRangeException", "Start time must be before end time.")
        limit = params.get("MaxResults", MAX_RESULTS)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
            raise _LookupError(
                "InvalidMaxResultsException", f"MaxResults must be between 1 and {MAX_RESULTS}."
            )
        # The token is only good for the query that issued it (AWS: "previously used in a request with
        # different parameters"); the page size may change between pages.
        fingerprint = hashlib.sha256(
            json.dumps([attributes, start, end], sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        before = None
        if params.get("NextToken") is not None:
            before = _decode_token(params["NextToken"], account, region, fingerprint)
        return cls(start, end, attribute, limit, fingerprint, before)


def _time_param(params: dict[str, Any], name: str) -> float | None:
    if params.get(name) is None:
        return None
    value = _parse_time(params[name])
    if value is None:
        raise _LookupError("InvalidTimeRangeException", f"{name} is not a valid timestamp.")
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_token(account: str, region: str, fingerprint: str, key: tuple[float, str]) -> str:
    payload = _b64(json.dumps([account, region, fingerprint, key[0], key[1]]).encode())
    signature = _b64(hmac.new(_TOKEN_KEY, payload.encode(), "sha256").digest()[:16])
    return f"{payload}.{signature}"


def _decode_token(token: Any, account: str, region: str, fingerprint: str) -> tuple[float, str]:
    invalid = _LookupError("InvalidNextTokenException", "Invalid NextToken.")
    if not isinstance(token, str) or token.count(".") != 1:
        raise invalid
    payload, signature = token.split(".")
    try:
        expected = _b64(hmac.new(_TOKEN_KEY, payload.encode(), "sha256").digest()[:16])
        if not hmac.compare_digest(expected, signature):
            raise invalid
        token_account, token_region, token_query, when, event_id = json.loads(_unb64(payload))
    except (ValueError, TypeError) as error:
        raise invalid from error
    if (token_account, token_region, token_query) != (account, region, fingerprint):
        raise invalid
    return float(when), str(event_id)


# moto renders its authentication errors as the query protocol's XML, which botocore cannot read for a
# JSON-protocol service such as CloudTrail (the code comes out as "403"). AWS answers these there with
# JSON and other codes; a bogus key on CloudTrail is UnrecognizedClientException, not InvalidClientTokenId.
JSON_AUTH_ERRORS = {
    "InvalidClientTokenId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "AccessDenied": "AccessDeniedException",
}


def _authenticate_json(self: Any, resource: str = "*") -> None:
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import JsonRESTError, _RESTError

    try:
        ActionAuthenticatorMixin._authenticate_and_authorize_normal_action(self, resource)
    except _RESTError as error:
        if error.error_type not in JSON_AUTH_ERRORS:
            raise
        raise JsonRESTError(JSON_AUTH_ERRORS[error.error_type], error.message) from error


def _trusts_account_principals(original: Any) -> Any:
    """moto matches a trust policy's principal by equality only. In AWS, naming an account
    (``arn:aws:iam::123456789012:root`` or ``123456789012``) trusts every principal of that account that
    its own IAM policies allow to assume the role; that is how a connector role is usually set up."""

    def check_principal(self: Any, principal: str) -> bool:
        if original(self, principal):
            return True
        expected = (self._statement.get("Principal") or {}).get("AWS") or []
        expected = [expected] if isinstance(expected, str) else list(expected)
        parts = principal.split(":")
        if len(parts) < 6 or not parts[4]:
            return False
        return any(value in {parts[4], f"arn:{parts[1]}:iam::{parts[4]}:root"} for value in expected)

    check_principal.localaws = True  # type: ignore[attr-defined]
    return check_principal


def install() -> None:
    """Add what moto lacks: LookupEvents, AWS's JSON authentication errors on CloudTrail, and trust
    policies that name an account. Idempotent."""
    from moto.cloudtrail.responses import CloudTrailResponse
    from moto.iam.access_control import IAMPolicyStatement

    # moto dispatches on the snake_case action name to any plain function of the class.
    CloudTrailResponse.lookup_events = lookup_events  # type: ignore[attr-defined]
    CloudTrailResponse._authenticate_and_authorize_normal_action = _authenticate_json  # type: ignore[method-assign]
    if not getattr(IAMPolicyStatement._check_principal, "localaws", False):
        IAMPolicyStatement._check_principal = _trusts_account_principals(IAMPolicyStatement._check_principal)


# --- Authentication switch ---------------------------------------------------------------------------


def enable_auth() -> None:
    """Enforce IAM signatures and policies on every request from now on (process-wide)."""
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin

    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0


def disable_auth() -> None:
    """Accept any request again, signed or not (moto's default)."""
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin

    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    ActionAuthenticatorMixin.request_count = 0


# --- The server --------------------------------------------------------------------------------------


class _EmulatorApp:
    """WSGI app: the append route, then moto, with the emulator in the environ for LookupEvents."""

    def __init__(self, emulator: Emulator) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.emulator = emulator
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == EVENTS_PATH:
            return self._events(environ, start_response)
        environ[ENVIRON_KEY] = self.emulator
        request = self.emulator.requests.count(environ)
        if stall := self.emulator.faults.take_stall(request):
            time.sleep(stall)
        return self.moto(environ, start_response)

    def _events(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        store = self.emulator.store
        method = environ.get("REQUEST_METHOD")
        status, body = "200 OK", {}
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                records = json.loads(environ["wsgi.input"].read(length) or b"{}").get("Records")
                if not isinstance(records, list):
                    raise ValueError('the body must be {"Records": [...]}')
                body = {"Added": store.add(records), "Count": store.count()}
            except (ValueError, AttributeError, TypeError) as error:
                status, body = "400 Bad Request", {"message": str(error)}
        elif method == "GET":
            body = {"Count": store.count()}
        elif method == "DELETE":
            store.clear()
            body = {"Count": 0}
        else:
            status, body = "405 Method Not Allowed", {"message": f"{method} is not supported here"}
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]


class Emulator:
    """moto plus LookupEvents, served on ``host:port`` by a background thread of this process.

    ``port=0`` takes a free port; read ``endpoint_url`` after :meth:`start`. ``lookup_events_per_second``
    and ``throttle_window`` override AWS's limit for this emulator (``None`` follows the module
    constant); :meth:`reset` brings them back.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        lookup_events_per_second: int | None = None,
        throttle_window: float = THROTTLE_WINDOW_SECONDS,
        log_requests: bool = False,
    ) -> None:
        install()
        self.host = host
        self.port = port
        self.store = EventStore()
        self.throttle = Throttle(lookup_events_per_second, throttle_window)
        self.faults = Faults()
        self.requests = RequestCounter()
        self._throttle_defaults = (lookup_events_per_second, throttle_window)
        self._log_requests = log_requests
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("The emulator is not running: call start() first.")
        # A wildcard bind is still reached through loopback from this machine.
        host = "127.0.0.1" if self.host in {"0.0.0.0", "", "::"} else self.host
        return f"http://{host}:{self._server.server_port}"

    def start(self) -> Emulator:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        handler = MotoRequestHandler
        if not self._log_requests:
            handler = type("QuietMotoRequestHandler", (MotoRequestHandler,), {"log_request": _no_log})
        self._server = make_server(
            self.host, self.port, _EmulatorApp(self), threaded=True, request_handler=handler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="localaws", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def add_events(self, records: Iterable[dict[str, Any]]) -> int:
        """Store CloudTrail records for LookupEvents; returns how many were new."""
        return self.store.add(records)

    def reset(self) -> None:
        """Empty moto (POST /moto-api/reset) and the event store, forget the throttle's window and
        restore its limit, and switch authentication off: a clean account for the next test."""
        disable_auth()
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        self.store.clear()
        self.faults.clear()
        self.requests.clear()
        self.throttle.clear()
        self.throttle.limit, self.throttle.window = self._throttle_defaults

    def enable_auth(self) -> None:
        """Enforce IAM authentication and authorization (see :func:`enable_auth`)."""
        enable_auth()

    def disable_auth(self) -> None:
        disable_auth()


def _no_log(*args: Any, **kwargs: Any) -> None:
    return None


# --- Client of the append protocol -------------------------------------------------------------------


def append_events(
    endpoint_url: str, records: Sequence[dict[str, Any]] | Iterable[dict[str, Any]], *, batch: int = 2000
) -> int:
    """Append CloudTrail records to a running emulator, from any process; returns how many were new.

    Plain HTTP rather than boto3: the route is the emulator's own, not an AWS API.
    """
    added = 0
    for chunk in _chunks(records, batch):
        payload = json.dumps({"Records": chunk}, default=_json_default).encode()
        request = urllib.request.Request(
            f"{endpoint_url.rstrip('/')}{EVENTS_PATH}",
            data=payload,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            added += json.loads(response.read())["Added"]
    return added


def _chunks(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)
