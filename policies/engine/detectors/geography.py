"""Where activity comes from (PRODUCT.md 6.2): ``anomaly_impossible_travel``, ``anomaly_infrequent_country``
and ``anomaly_unusual_region``. Locations are the GeoIP (or IP range override) fields enrichment
stored on the activity; nothing here looks an address up."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from policies.engine.detectors._common import (
    BASELINE_DAYS,
    DAY,
    HOUR,
    Episodes,
    clock,
    is_aws_service,
    learning,
    learning_days,
    seconds,
    setting,
    when,
    who,
)
from policies.engine.detectors.ip_reputation import OWN_CATEGORIES
from policies.engine.detectors.registry import Detector, register_detector
from policies.engine.fields import ActivityLike, activity_ref
from policies.engine.findings import Finding

EARTH_RADIUS_KM = 6371.0


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _place(point: Sequence[Any]) -> str:
    _, _, _, country, city, ip, _, _ = point
    return f"{city + ', ' if city else ''}{country or '??'} ({ip})"


def _located(a: ActivityLike) -> bool:
    return a.get("latitude") is not None and a.get("longitude") is not None and not is_aws_service(a)


# A place's event time (its first item), for bisect.
_time = itemgetter(0)


def _failed_login(a: ActivityLike) -> bool:
    return a.get("event_name") == "ConsoleLogin" and a.get("succeeded") is False


# --------------------------------------------------------------------------------------------------

# Sensitivity moves the settings "max_speed_kmh" (900) and "min_distance_km" (500), given for medium:
# low allows 1.5x the speed over twice the distance; high 0.8x the speed over half the distance and
# also compares two Corporate/VPN addresses.
TRAVEL_SCALE = {"low": (1.5, 2.0), "medium": (1.0, 1.0), "high": (0.8, 0.5)}
MAX_SPEED_KMH = 900
MIN_DISTANCE_KM = 500
# Places are kept this long per principal: farther apart in time, any distance is travelable.
TRAVEL_MEMORY = 24 * HOUR


@register_detector
class ImpossibleTravel(Detector):
    """Two activities of one principal whose great-circle distance over the time between them is above
    the travel speed, ignoring distances under the minimum. Skips failed sign-ins, calls made by AWS
    services (no caller address) and activities without a location, and pairs where both addresses are
    in Corporate/VPN ranges (except at high sensitivity). Each activity is compared with the places
    just before and after it in event time, so late events are judged in order. Learns for 7 days
    from the organization's first activity and from the principal's own."""

    key = "anomaly_impossible_travel"
    label = "Impossible travel"

    def observe(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        clock(state, activities)
        days = learning_days(self.settings)
        speed_scale, distance_scale = TRAVEL_SCALE[self.sensitivity]
        max_speed = setting(self.settings, "max_speed_kmh", MAX_SPEED_KMH) * speed_scale
        min_distance = setting(self.settings, "min_distance_km", MIN_DISTANCE_KM) * distance_scale
        principals: dict[str, Any] = state.setdefault("principals", {})
        episodes = Episodes(state, gap=DAY)
        in_batch = {activity_ref(a): a for a in activities}
        found: dict[str, dict[str, Any]] = {}
        for a in activities:
            principal = a.get("principal") or ""
            at = seconds(a["event_time"])
            entry = principals.setdefault(principal, {"first": at, "points": []})
            entry["first"] = min(entry["first"], at)
            if not _located(a) or _failed_login(a):
                continue
            own = (a.get("ip_category") or "") in OWN_CATEGORIES
            point = [at, a["latitude"], a["longitude"], a.get("country") or "", a.get("city") or "",
                     a.get("ip_address") or "", own, activity_ref(a)]  # fmt: skip
            points = entry["points"]
            low = bisect_left(points, at, key=_time)
            high = bisect_right(points, at, key=_time)
            before = points[low - 1] if low else None
            after = points[high] if high < len(points) else None
            neighbours = [p for p in (before, after) if p]
            worst = None
            for other in neighbours:
                if own and other[6] and self.sensitivity != "high":
                    continue
                if other[1] == point[1] and other[2] == point[2]:
                    continue  # the same place: no distance
                km = distance_km(point[1], point[2], other[1], other[2])
                minutes = max(abs(at - other[0]) / 60, 1.0)
                speed = km / (minutes / 60)
                if km >= min_distance and speed > max_speed and (worst is None or speed > worst[0]):
                    worst = (speed, km, minutes, other)
            if before is not None and before[5] == point[5]:
                # The same address again: move that place's time up (stays in order: after >= at), which
                # keeps one point per stay instead of one per activity.
                before[0], before[7] = at, point[7]
            else:
                insort(points, point, key=_time)
            if worst is None or learning(state, at, days) or learning(entry, at, days):
                continue
            speed, km, minutes, other = worst
            group = f"principal:{principal}"
            key = episodes.key(group, at, activity_ref(a))
            hit = found.setdefault(key, {"group": group, "activities": {}, "pairs": []})
            hit["activities"][activity_ref(a)] = a
            if other[7] in in_batch:
                hit["activities"][other[7]] = in_batch[other[7]]
            before, after = (other, point) if other[0] <= at else (point, other)
            hit["pairs"].append((before, after, km, minutes, speed, max_speed))
        self._prune(state)
        episodes.prune(state["last"])
        return [self._finding(key, hit) for key, hit in found.items()]

    def _prune(self, state: dict[str, Any]) -> None:
        last = state["last"]
        for entry in state["principals"].values():
            points = entry["points"]
            del points[: bisect_left(points, last - TRAVEL_MEMORY, key=_time)]

    def _finding(self, key: str, hit: dict[str, Any]) -> Finding:
        activities = list(hit["activities"].values())
        first = activities[0]
        before, after, km, minutes, speed, limit = max(hit["pairs"], key=lambda pair: pair[4])
        explanation = (
            f"{who(first)}: {_place(before)} at {when(before[0])}, then {_place(after)} at {when(after[0])}: "
            f"{km:,.0f} km in {minutes:,.0f} minutes = {speed:,.0f} km/h (limit {limit:,.0f} km/h)"
        )
        return self.finding(
            activities=activities,
            title=f"{self.policy.name}: {who(first)} from {before[3] or '??'} to {after[3] or '??'} "
            f"in {minutes:,.0f} minutes",
            description=explanation + ".",
            evidence={
                "explanation": explanation,
                "from": {"ip": before[5], "country": before[3], "city": before[4], "time": when(before[0])},
                "to": {"ip": after[5], "country": after[3], "city": after[4], "time": when(after[0])},
                "distance_km": round(km),
                "minutes": round(minutes, 1),
                "speed_kmh": round(speed),
                "max_speed_kmh": round(limit),
                "sensitivity": self.sensitivity,
            },
            principal=first.get("principal") or "",
            group_key=hit["group"],
            key=f"{self.policy.id or self.policy.key}|{key}",
        )


# --------------------------------------------------------------------------------------------------

# A country is rare in the organization when at most this many other principals used it in the last
# 30 days, by sensitivity.
RARE_OTHERS = {"low": 0, "medium": 1, "high": 3}


@register_detector
class InfrequentCountry(Detector):
    """Activity from a country the principal has not used in the last 30 days and that is rare in the
    organization (``RARE_OTHERS``). Addresses of Corporate/VPN ranges (their location is the egress, not
    the person), AWS service calls and failed sign-ins are not judged. Learns for 7 days from the
    organization's first activity and from the principal's own. Once alerted, the country is part of
    the principal's baseline; its activities of the next 24 hours join the same alert."""

    key = "anomaly_infrequent_country"
    label = "Activity from infrequent country"

    def observe(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        clock(state, activities)
        days = learning_days(self.settings)
        window = int(setting(self.settings, "baseline_days", BASELINE_DAYS))
        principals: dict[str, Any] = state.setdefault("principals", {})
        organization: dict[str, dict[str, int]] = state.setdefault("countries", {})
        episodes = Episodes(state, gap=DAY)
        found: dict[str, dict[str, Any]] = {}
        for a in activities:
            principal = a.get("principal") or ""
            at = seconds(a["event_time"])
            entry = principals.setdefault(principal, {"first": at, "countries": {}, "new": {}})
            entry["first"] = min(entry["first"], at)
            country = a.get("country") or ""
            if not country or is_aws_service(a) or _failed_login(a):
                continue
            if (a.get("ip_category") or "") in OWN_CATEGORIES:
                continue
            day = at // DAY
            usual = country in entry["countries"] and day - window <= entry["countries"][country]
            alerted = entry["new"].get(country)
            continuing = alerted is not None and 0 <= at - alerted <= DAY
            judged = continuing or (
                not usual and not learning(state, at, days) and not learning(entry, at, days)
            )
            # Only an activity that may alert pays for the organization's view of the country.
            others = (
                [
                    p
                    for p, last in organization.get(country, {}).items()
                    if p != principal and day - window <= last
                ]
                if judged
                else []
            )
            entry["countries"][country] = max(entry["countries"].get(country, 0), day)
            organization.setdefault(country, {})[principal] = day
            if not judged or not (continuing or len(others) <= RARE_OTHERS[self.sensitivity]):
                continue
            known = sorted(
                c for c, last in entry["countries"].items() if day - window <= last and c != country
            )
            entry["new"].setdefault(country, at)
            group = f"principal:{principal}|country:{country}"
            key = episodes.key(group, at, activity_ref(a))
            hit = found.setdefault(
                key, {"group": group, "activities": [], "known": known, "others": len(others)}
            )
            hit["activities"].append(a)
        self._prune(state, window)
        episodes.prune(state["last"])
        return [self._finding(key, hit) for key, hit in found.items()]

    def _prune(self, state: dict[str, Any], window: int) -> None:
        last = state["last"]
        oldest = last // DAY - window
        for entry in state["principals"].values():
            entry["countries"] = {c: d for c, d in entry["countries"].items() if d >= oldest}
            entry["new"] = {c: t for c, t in entry["new"].items() if last - t <= DAY}
        countries = state["countries"]
        for country in list(countries):
            countries[country] = {p: d for p, d in countries[country].items() if d >= oldest}
            if not countries[country]:
                del countries[country]

    def _finding(self, key: str, hit: dict[str, Any]) -> Finding:
        activities = hit["activities"]
        first = activities[0]
        country = first.get("country")
        place = ", ".join(dict.fromkeys(a.get("city") or "" for a in activities if a.get("city"))) or country
        explanation = f"countries in the last 30 days: {', '.join(hit['known']) or 'none'} - new: {country}"
        return self.finding(
            activities=activities,
            title=f"{self.policy.name}: {who(first)} from {country}",
            description=(
                f"{who(first)}: {explanation} ({place}; {hit['others']} other principals of the organization "
                f"used it in 30 days). {len(activities)} activities from "
                f"{when(seconds(first['event_time']))}."
            ),
            evidence={
                "explanation": explanation,
                "known_countries": hit["known"],
                "country": country,
                "other_principals": hit["others"],
                "sensitivity": self.sensitivity,
            },
            principal=first.get("principal") or "",
            group_key=hit["group"],
            key=f"{self.policy.id or self.policy.key}|{key}",
        )


# --------------------------------------------------------------------------------------------------


def creates(a: ActivityLike, sensitivity: str) -> bool:
    """What counts as creating a resource, by sensitivity: low RunInstances only; medium RunInstances
    and Create* calls; high any write (not read-only)."""
    name = a.get("event_name") or ""
    if a.get("read_only"):
        return False
    if sensitivity == "low":
        return name == "RunInstances"
    if sensitivity == "medium":
        return name == "RunInstances" or name.startswith("Create")
    return True


@register_detector
class UnusualRegion(Detector):
    """Creation of a resource in a region the organization made no successful write in on an earlier
    day of the last 30 (read-only calls, which consoles make in every region, do not make a region
    used). Calls made by AWS services are not judged but make a region used. Learns for 7 days from
    the organization's first activity; one alert per principal and region while it goes on."""

    key = "anomaly_unusual_region"
    label = "Suspicious creation activity for cloud region"

    def observe(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        clock(state, activities)
        days = learning_days(self.settings)
        regions: dict[str, int] = state.setdefault("regions", {})  # region -> days it was used
        episodes = Episodes(state, gap=DAY)
        found: dict[str, dict[str, Any]] = {}
        for a in activities:
            region = a.get("region") or ""
            if not region:
                continue
            at = seconds(a["event_time"])
            day = at // DAY
            used = {r: d for r, d in regions.items() if d[0] < day and day - BASELINE_DAYS <= d[-1]}
            if (
                region not in used
                and creates(a, self.sensitivity)
                and not is_aws_service(a)
                and not learning(state, at, days)
            ):
                group = f"principal:{a.get('principal') or ''}|region:{region}"
                key = episodes.key(group, at, activity_ref(a))
                hit = found.setdefault(key, {"group": group, "activities": [], "used": sorted(used)})
                hit["activities"].append(a)
                continue
            if a.get("succeeded") is not False and not a.get("read_only"):
                first_day, last_day = regions.get(region, (day, day))
                regions[region] = [min(first_day, day), max(last_day, day)]
        oldest = state["last"] // DAY - BASELINE_DAYS
        for region in [r for r, (_, last) in regions.items() if last < oldest]:
            del regions[region]
        episodes.prune(state["last"])
        return [self._finding(key, hit) for key, hit in found.items()]

    def _finding(self, key: str, hit: dict[str, Any]) -> Finding:
        activities = hit["activities"]
        first = activities[0]
        region = first.get("region")
        names = sorted({a.get("event_name") or "" for a in activities})
        explanation = f"regions in the last 30 days: {', '.join(hit['used']) or 'none'} - new: {region}"
        return self.finding(
            activities=activities,
            title=f"{self.policy.name}: {who(first)} creates resources in {region}",
            description=(
                f"{who(first)}: {explanation}. {len(activities)} creation calls "
                f"({', '.join(names[:10])}) from "
                f"{when(seconds(first['event_time']))}."
            ),
            evidence={
                "explanation": explanation,
                "region": region,
                "used_regions": hit["used"],
                "event_names": names[:20],
                "sensitivity": self.sensitivity,
            },
            principal=first.get("principal") or "",
            group_key=hit["group"],
            key=f"{self.policy.id or self.policy.key}|{key}",
        )
