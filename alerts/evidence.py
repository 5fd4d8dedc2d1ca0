"""How an alert's evidence (the detector's explanation, a free-form dict) reads on the alert page. Pure."""

from __future__ import annotations

from typing import Any

PLACE_PAIRS = (
    ("from", "to"),
    ("previous", "current"),
    ("first", "second"),
    ("origin", "destination"),
    ("place_1", "place_2"),
    ("before", "after"),
)
PLACE_LISTS = ("places", "locations")
DISTANCE_KEYS = ("distance_km", "distance")
SPEED_KEYS = ("speed_kmh", "speed_km_h", "speed")
HOURS_KEYS = ("hours", "elapsed_hours", "time_hours")
MINUTES_KEYS = ("minutes", "elapsed_minutes", "time_minutes")
SECONDS_KEYS = ("seconds", "elapsed_seconds", "time_seconds")
LABELS = {
    "event_name": "Action",
    "event_source": "Event source",
    "event_time": "Time",
    "source_ip": "IP address",
    "ip_category": "IP category",
    "ip_tags": "IP tags",
    "error_code": "Error code",
    "error_message": "Error message",
    "user_agent": "User agent",
    "distance_km": "Distance (km)",
    "speed_kmh": "Speed (km/h)",
    "mitre_tactic": "MITRE tactic",
}


def label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return ", ".join(f"{label(str(k))}: {text(v)}" for k, v in value.items()) or "-"
    return str(value)


def _first(data: dict, keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if data.get(key) not in (None, ""):
            return key, data[key]
    return None, None


def _place(value: dict) -> dict[str, str]:
    where = ", ".join(
        str(p) for p in (value.get("city"), value.get("region_name"), value.get("country")) if p
    )
    _, lat = _first(value, ("latitude", "lat"))
    _, lon = _first(value, ("longitude", "lon", "lng"))
    _, ip = _first(value, ("source_ip", "ip", "ip_address"))
    _, at = _first(value, ("event_time", "time", "at"))
    coords = (
        f"{float(lat):.2f}, {float(lon):.2f}"
        if isinstance(lat, (int, float)) and isinstance(lon, (int, float))
        else ""
    )
    return {"where": where or "Unknown place", "coords": coords, "ip": str(ip or ""), "at": str(at or "")}


def travel(evidence: dict) -> tuple[dict | None, set[str]]:
    """Two places with distance, time and speed, when the evidence names them; and the keys used."""
    used: set[str] = set()
    places = None
    for a, b in PLACE_PAIRS:
        if isinstance(evidence.get(a), dict) and isinstance(evidence.get(b), dict):
            places, used = [evidence[a], evidence[b]], {a, b}
            break
    if places is None:
        for key in PLACE_LISTS:
            value = evidence.get(key)
            if isinstance(value, list) and len(value) == 2 and all(isinstance(v, dict) for v in value):
                places, used = value, {key}
                break
    if places is None:
        return None, set()
    result: dict[str, Any] = {"places": [_place(p) for p in places]}
    key, distance = _first(evidence, DISTANCE_KEYS)
    if key:
        used.add(key)
        result["distance"] = (
            f"{float(distance):,.0f} km" if isinstance(distance, (int, float)) else str(distance)
        )
    key, speed = _first(evidence, SPEED_KEYS)
    if key:
        used.add(key)
        result["speed"] = f"{float(speed):,.0f} km/h" if isinstance(speed, (int, float)) else str(speed)
    for keys, unit in ((HOURS_KEYS, 60), (MINUTES_KEYS, 1), (SECONDS_KEYS, 1 / 60)):
        key, amount = _first(evidence, keys)
        if key and isinstance(amount, (int, float)):
            used.add(key)
            result["time"] = _duration(float(amount) * unit)
            break
    return result, used


def _duration(minutes: float) -> str:
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return f"{minutes:.0f} minutes"
    return f"{minutes / 60:.1f} hours"


def evidence_view(evidence: dict | None) -> dict[str, Any]:
    """``{"travel": ... | None, "items": [(label, text), ...]}`` for the alert page."""
    evidence = evidence if isinstance(evidence, dict) else {}
    trip, used = travel(evidence)
    items = [
        (label(str(k)), text(v)) for k, v in evidence.items() if k not in used and v not in (None, "", [], {})
    ]
    return {"travel": trip, "items": items}
