"""The activity fields a policy filter can name, and how an activity is read by the engine.

The engine evaluates activities as plain mappings whose keys are the Activity model's field names
(what ``connectors.ingestion.normalize.NormalizedActivity.as_fields`` + ``enrich`` produce, or
``Activity.objects.values(...)``), plus ``connector`` (the connector's name) and ``connector_id``.
``as_activity`` turns anything else (an Activity row, a NormalizedActivity) into such a mapping.
No ORM, no settings: pure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Every key the engine (and the detectors) may read; loaders fetch exactly these.
ACTIVITY_KEYS: tuple[str, ...] = (
    "id",
    "connector_id",
    "connector",
    "event_id",
    "event_time",
    "event_name",
    "event_source",
    "service",
    "event_type",
    "region",
    "recipient_account_id",
    "source_ip",
    "ip_address",
    "user_agent",
    "principal",
    "principal_name",
    "principal_type",
    "access_key_id",
    "read_only",
    "administrative",
    "succeeded",
    "error_code",
    "error_message",
    "console_login",
    "mfa_used",
    "resources",
    "country",
    "city",
    "latitude",
    "longitude",
    "asn",
    "isp",
    "ip_category",
    "ip_tags",
    "ingested_at",
)

ActivityLike = Mapping[str, Any]


class Kind(enum.Enum):
    TEXT = "text"
    BOOL = "bool"
    LIST = "list"  # a list of strings: membership for equals/in


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    label: str
    kind: Kind
    key: str  # the activity mapping's key (for LIST fields derived from resources: "resources")
    db: str  # the ORM lookup path on connectors.Activity
    nullable: bool = False  # the column can be NULL (ip_address, mfa_used)
    element: str = ""  # LIST fields read from ``resources``: the element key ("name", "type")


def _text(name: str, label: str, *, db: str = "", key: str = "", nullable: bool = False) -> FieldDef:
    return FieldDef(name, label, Kind.TEXT, key or name, db or name, nullable)


def _bool(name: str, label: str, *, nullable: bool = False) -> FieldDef:
    return FieldDef(name, label, Kind.BOOL, name, name, nullable)


FIELDS: dict[str, FieldDef] = {
    f.name: f
    for f in (
        _text("event_name", "Event name"),
        _text("service", "Service"),
        _text("event_source", "Event source"),
        _text("event_type", "Event type"),
        _text("region", "Region"),
        _text("recipient_account_id", "Account ID"),
        _text("principal", "Principal (key)"),
        _text("principal_name", "Principal name"),
        _text("principal_type", "Principal type"),
        _text("source_ip", "Source IP (as recorded)"),
        _text("ip_address", "IP address", nullable=True),
        _text("ip_category", "IP category"),
        FieldDef("ip_tags", "IP tag", Kind.LIST, "ip_tags", "ip_tags"),
        _text("country", "Country"),
        _text("city", "City"),
        _text("isp", "ISP"),
        _text("user_agent", "User agent"),
        _bool("succeeded", "Succeeded"),
        _bool("administrative", "Administrative"),
        _bool("read_only", "Read-only"),
        _text("error_code", "Error code"),
        _text("console_login", "Console sign-in outcome"),
        _bool("mfa_used", "MFA used", nullable=True),
        _text("access_key_id", "Access key ID"),
        _text("connector", "App (connector name)", db="connector__name"),
        FieldDef("resource", "Resource name", Kind.LIST, "resources", "resources", element="name"),
        FieldDef("resource_type", "Resource type", Kind.LIST, "resources", "resources", element="type"),
    )
}


def as_activity(item: Any) -> ActivityLike:
    """A mapping the engine can read, from a mapping (returned as is), an Activity model instance or a
    NormalizedActivity. Model instances give ``connector_id`` (reading ``connector`` would query)."""
    if isinstance(item, Mapping):
        return item
    data: dict[str, Any] = {}
    for key in ACTIVITY_KEYS:
        if key == "connector":
            continue
        if hasattr(item, key):
            data[key] = getattr(item, key)
    if "id" not in data and hasattr(item, "pk"):
        data["id"] = item.pk
    if hasattr(item, "_state") and "connector" in getattr(item._state, "fields_cache", {}):
        data["connector"] = getattr(item.connector, "name", "")
    return data


def activity_ref(activity: ActivityLike) -> Any:
    """A stable identity of an activity within one run: its database id, else its CloudTrail event ID."""
    pk = activity.get("id")
    return pk if pk is not None else activity.get("event_id")


def time_order(activity: ActivityLike) -> tuple[Any, int, str]:
    """Event time, then ingestion order: CloudTrail times are to the second, and ids compare as numbers
    (as strings, id 100 would sort before 99)."""
    return activity["event_time"], activity.get("id") or 0, str(activity_ref(activity))


def ip_or_source(activity: ActivityLike) -> str:
    """The caller's address, or what CloudTrail recorded instead (an AWS service's name)."""
    return activity.get("ip_address") or activity.get("source_ip") or ""
