"""Activities for policy tests: real-shaped CloudTrail records (tests/cloudtrail.py) normalized and
enriched as ingestion does, in memory or stored."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from connectors.ingestion.normalize import normalize
from connectors.ingestion.store import store_records
from connectors.models import Activity, Connector
from defender.ipintel.classify import IpClassifier, RangeSpec, enrich
from tests.cloudtrail import record

RISKY_IP = "185.220.101.7"
CORPORATE_IP = "203.0.113.10"
CLASSIFIER = IpClassifier.build(
    [
        RangeSpec(name="Known bad", category="risky", cidrs=["185.220.101.0/24"]),
        RangeSpec(name="Head office", category="corporate", cidrs=["203.0.113.0/24"]),
    ],
    [],
)
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


def call(
    event_name: str,
    event_source: str,
    *,
    fixture: str = "iam_user_api_call",
    at: datetime = T0,
    read_only: bool = False,
    error: str | None = None,
    ip: str = CORPORATE_IP,
    user: str | None = None,
    **changes,
) -> dict:
    """A CloudTrail record of ``event_name`` on ``event_source`` (an IAM user's API call by default)."""
    event = record(fixture, at=at, **changes)
    event.update(eventName=event_name, eventSource=event_source, readOnly=read_only, sourceIPAddress=ip)
    if error:
        event.update(errorCode=error, errorMessage=f"User is not authorized to perform {event_name}")
    if user:
        identity = event["userIdentity"]
        identity["userName"] = user
        identity["arn"] = f"arn:aws:iam::123456789012:user/{user}"
    return event


def console_login(
    *, failed: bool = True, at: datetime = T0, ip: str = "198.51.100.201", user: str = "dave"
) -> dict:
    """A console sign-in of IAM user ``user``, failed ("Failed authentication") or not."""
    event = record("iam_user_console_login_failure", at=at, sourceIPAddress=ip)
    event["userIdentity"]["userName"] = user
    if not failed:
        event.pop("errorMessage")
        event["responseElements"] = {"ConsoleLogin": "Success"}
    return event


def activity(event: dict, *, with_id: bool = True) -> dict:
    """The record as the engine sees it in memory (what scan_cloudtrail builds)."""
    fields = enrich(normalize(event).as_fields(), CLASSIFIER)
    if with_id:
        fields["id"] = next(_ids)
    return fields


def store(connector: Connector, events: list[dict]) -> list[int]:
    """Store records as ingestion does; the ids of the new activities."""
    return store_records(connector=connector, records=events, source="test", classifier=CLASSIFIER).new_ids


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def arrived(ids: list[int], at: datetime) -> None:
    """Pretend these activities were ingested at ``at``."""
    Activity.objects.filter(pk__in=ids).update(ingested_at=at)
