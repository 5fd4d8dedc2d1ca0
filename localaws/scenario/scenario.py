"""build_scenario: a named, seeded, anchored AWS account history that streams in time order."""

from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from localaws.scenario import geo
from localaws.scenario.activity import HOUR, Activity
from localaws.scenario.cast import Principal, build_cast
from localaws.scenario.episodes import TERMINATED_USER, EpisodeBuilder, build_episodes, termination_time
from localaws.scenario.records import ACCOUNT_ID, iso
from localaws.scenario.spec import ResourceSpec, build_spec


@dataclass(frozen=True)
class Preset:
    principals: int
    days: int
    events: int | None
    attacks: bool
    description: str


PRESETS = {
    "demo": Preset(
        30, 14, None, True, "About 30 principals, 14 days of normal activity and the last day's attacks."
    ),
    "quiet": Preset(
        30, 14, None, False, "The same company on ordinary days: normal activity only, no episode."
    ),
    "scale": Preset(200, 14, 1_000_000, True, "The demo's story among 200 principals and a million events."),
}
MIN_DAYS = 2
# Look-alikes found in the principals' day plans: tag -> (manifest name, description, keys).
PLAN_LOOK_ALIKES = (
    (
        "autoscaling",
        "autoscaling_daily_launches",
        "The Auto Scaling group launches three instances every morning and terminates them at night.",
        ["anomaly_mass_vm_creation", "anomaly_mass_vm_deletion", "anomaly_unusual_region"],
    ),
    (
        "cleanup",
        "weekly_s3_cleanup",
        "A Lambda deletes a handful of temporary exports every Sunday (S3 data events).",
        ["anomaly_mass_storage_deletion"],
    ),
    (
        "travel_arrival_1",
        "frequent_traveller_first_trip",
        "taeyang.yoon flies Seoul -> Tokyo: five hours between the two sign-ins.",
        ["anomaly_impossible_travel"],
    ),
    (
        "travel_return_1",
        "frequent_traveller_first_return",
        "taeyang.yoon flies back to Seoul.",
        ["anomaly_impossible_travel"],
    ),
    (
        "travel_arrival_2",
        "frequent_traveller_second_trip",
        "taeyang.yoon in Tokyo again: a country of his baseline.",
        ["anomaly_impossible_travel", "anomaly_infrequent_country"],
    ),
    (
        "travel_return_2",
        "frequent_traveller_second_return",
        "taeyang.yoon flies back to Seoul.",
        ["anomaly_impossible_travel"],
    ),
    (
        "hop_vpn",
        "office_to_vpn_switch",
        "mina.jung works from the Seoul office in the morning and through the corporate VPN (Frankfurt "
        "egress) after lunch: both addresses are in Corporate/VPN ranges.",
        ["anomaly_impossible_travel"],
    ),
    (
        "typo",
        "single_mistyped_passwords",
        "One failed console sign-in followed by a success.",
        ["anomaly_multiple_failed_logins"],
    ),
)


def _anchor(end: datetime | None) -> datetime:
    if end is None:
        return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return end.astimezone(UTC).replace(microsecond=0)


class Scenario:
    """One account's history. Same name + seed + anchor: byte-identical events."""

    account_id = ACCOUNT_ID

    def __init__(
        self,
        *,
        name: str,
        preset: Preset,
        seed: int,
        end: datetime,
        principals: int,
        days: int,
        events: int | None,
    ) -> None:
        self.name, self.preset, self.seed = name, preset, seed
        self.end_at = end
        self.days = max(MIN_DAYS, days)
        self.end = int(end.timestamp())
        self.start = self.end - self.days * 86400
        self.start_at = datetime.fromtimestamp(self.start, UTC)
        self.salt = f"{name}:{seed}"
        self.cast: list[Principal] = build_cast(principals)
        self.spec: ResourceSpec = build_spec(seed)
        self.spec = _with_users(self.spec, self.cast)
        self.terminated = {TERMINATED_USER: termination_time(self.end)}
        self.activity = Activity(
            salt=self.salt,
            seed=seed,
            cast=self.cast,
            spec=self.spec,
            start=self.start,
            end=self.end,
            days=self.days,
            terminated=self.terminated,
        )
        self.episodes: EpisodeBuilder = build_episodes(
            activity=self.activity, salt=self.salt, seed=seed, end=self.end, attacks=preset.attacks
        )
        self.hours = math.ceil((self.end - self.start) / HOUR)
        self._episode_by_hour: dict[int, list[tuple[int, dict]]] = {}
        for rec in self.episodes.records():
            t = int(datetime.fromisoformat(rec["eventTime"].replace("Z", "+00:00")).timestamp())
            self._episode_by_hour.setdefault((t - self.start) // HOUR, []).append((t, rec))
        self.target_events = events
        self._fixed_hours: set[tuple[int, int]] = set()
        self._counts = self._allocate(events)
        self._stats: dict | None = None

    # --- the stream ----------------------------------------------------------------------------
    def _allocate(self, events: int | None) -> array:
        """Calls per (hour, principal): the principals' expected rates, scaled to ``events`` if given,
        rounded cumulatively so that the total is exact and the result deterministic."""
        people = len(self.cast)
        expected = array("d", bytes(8 * self.hours * people))
        fixed = 0
        for p in range(people):
            for h, amount in self.activity.expected_by_hour(p, self.hours):
                expected[h * people + p] += amount
            for _, _, event in self.activity.fixed_in_window(p):
                self._fixed_hours.add(((event.t - self.start) // HOUR, p))
                fixed += 1
        total = math.fsum(expected)
        scale = 1.0
        target = None
        if events is not None:
            target = max(0, events - fixed - len(self.episodes.records()))
            scale = target / total if total else 0.0
        counts = array("I", bytes(4 * len(expected)))
        running, issued, last = 0.0, 0, -1
        for i, amount in enumerate(expected):
            if amount:
                running += amount * scale
                whole = int(running + 0.5)
                counts[i] = whole - issued
                issued, last = whole, i
        if target is not None and last >= 0 and issued != target:  # float dust: settle on the last cell
            counts[last] = max(0, counts[last] + target - issued)
        return counts

    def iter_events(self) -> Iterator[dict]:
        """CloudTrail records in time order, built one at a time: an hour is first drawn as small
        (time, principal, slot) tuples, so memory does not grow with the number of events."""
        people = len(self.cast)
        by_region: Counter = Counter()
        total = management = 0
        for h in range(self.hours):
            skeletons: list[tuple[int, int, int, int, int]] = []
            for p in range(people):
                calls = self._counts[h * people + p]
                if calls or (h, p) in self._fixed_hours:
                    skeletons.extend(self.activity.hour_skeletons(p, h, calls))
            episodes = self._episode_by_hour.get(h, ())
            skeletons.extend((t, people, k, 0, 0) for k, (t, _) in enumerate(episodes))
            skeletons.sort()
            rngs: dict = {}
            for skeleton in skeletons:
                if skeleton[1] == people:
                    record = episodes[skeleton[2]][1]
                else:
                    record = self.activity.build(h, skeleton, rngs)
                by_region[record["awsRegion"]] += 1
                management += record["managementEvent"]
                total += 1
                yield record
        self._stats = {
            "event_count": total,
            "management_event_count": management,
            "events_by_region": dict(sorted(by_region.items())),
        }

    def stats(self) -> dict:
        if self._stats is None:
            for _ in self.iter_events():
                pass
        return dict(self._stats or {})

    # --- descriptions --------------------------------------------------------------------------
    def principal(self, name: str) -> Principal:
        return next(p for p in self.cast if p.name == name)

    def must_not_fire(self) -> list[dict]:
        groups: dict[str, list[str]] = {}
        for p_index, p in enumerate(self.cast):
            for day, index, fixed in self.activity.fixed_in_window(p_index):
                if fixed.tag:
                    groups.setdefault(fixed.tag, []).append(
                        self.activity.fixed_record(p_index, day, index)["eventID"]
                    )
                if p.name == TERMINATED_USER and fixed.kind == "login":
                    groups.setdefault("before_termination", []).append(
                        self.activity.fixed_record(p_index, day, index)["eventID"]
                    )
        out = []
        for tag, name, description, keys in PLAN_LOOK_ALIKES:
            if groups.get(tag):
                out.append({"name": name, "description": description, "event_ids": groups[tag], "keys": keys})
        if self.preset.attacks:
            typo = next(
                ep for ep in self.episodes.episodes if ep.name == "template_aws_console_failed_logins"
            )
            for entry in out:
                if entry["name"] == "single_mistyped_passwords":
                    entry["event_ids"] += [r["eventID"] for r in typo.records]
                    break
            else:
                out.append(
                    {
                        "name": "single_mistyped_passwords",
                        "description": "One failed console sign-in followed by a success.",
                        "event_ids": [r["eventID"] for r in typo.records],
                        "keys": ["anomaly_multiple_failed_logins"],
                    }
                )
        if groups.get("before_termination"):
            out.append(
                {
                    "name": "terminated_user_before_termination",
                    "description": f"{TERMINATED_USER}'s sign-ins before the directory disabled her.",
                    "event_ids": groups["before_termination"],
                    "keys": ["anomaly_terminated_user"],
                }
            )
        for ep in self.episodes.look_alikes:
            out.append(
                {
                    "name": ep.name,
                    "description": ep.description,
                    "event_ids": [r["eventID"] for r in ep.records],
                    "keys": ep.expect,
                }
            )
        return out

    def manifest(self, stats: dict | None = None) -> dict:
        stats = stats or self.stats()
        return {
            "scenario": self.name,
            "description": self.preset.description,
            "seed": self.seed,
            "start": iso(self.start),
            "end": iso(self.end),
            "days": self.days,
            "principal_count": len(self.cast),
            "target_events": self.target_events,
            "account_id": self.account_id,
            "event_count": stats["event_count"],
            "management_event_count": stats["management_event_count"],
            "events_by_region": stats["events_by_region"],
            **({"trail_files": stats["trail_files"]} if "trail_files" in stats else {}),
            "organization_regions": list(self.spec.regions),
            "principals": [p.as_json() for p in self.cast],
            "terminated_users": [
                {
                    "principal": self.principal(name).key,
                    "email": self.principal(name).email,
                    "terminated_at": iso(t),
                }
                for name, t in self.terminated.items()
            ],
            "episodes": [ep.as_json() for ep in self.episodes.episodes],
            "must_not_fire": self.must_not_fire(),
            "resources": self.spec.as_json(),
            "ip_ranges": [r.as_json() for r in geo.IP_RANGES],
            "threat_feeds": {"tor": list(geo.TOR_EXIT_NODES), "botnet": list(geo.BOTNET_NODES)},
        }

    def directory_rows(self) -> list[dict]:
        """The identity provider's users (section 9): people only, with the leaver terminated."""
        rows = []
        for p in self.cast:
            if not p.email or p.email.endswith(f"-team@{p.email.split('@')[1]}"):
                continue
            terminated = self.terminated.get(p.name)
            rows.append(
                {
                    "email": p.email,
                    "display_name": p.display,
                    "status": "terminated" if terminated else "active",
                    "terminated_at": iso(terminated) if terminated else "",
                }
            )
        rows.append(
            {
                "email": "jaehyun.baek@hanbit.example",
                "display_name": "Jaehyun Baek",
                "status": "active",
                "terminated_at": "",
            }
        )
        rows.append(
            {
                "email": "alex.turner@hanbit.example",
                "display_name": "Alex Turner",
                "status": "terminated",
                "terminated_at": iso(self.start - 40 * 86400),
            }
        )
        return rows


def _with_users(spec: ResourceSpec, cast: list[Principal]) -> ResourceSpec:
    users = tuple(
        {"name": p.name, "email": p.email, "console": p.console, "access_key": p.cli, "persona": p.persona}
        for p in cast
        if p.type == "IAMUser"
    )
    return replace(spec, users=users)


def build_scenario(
    name_or_path: str,
    *,
    seed: int = 1,
    end: datetime | None = None,
    principals: int | None = None,
    days: int | None = None,
    events: int | None = None,
) -> Scenario:
    """A scenario by name (demo, quiet, scale) or from a JSON file (a manifest.json, or any object with
    "scenario" and optionally "seed", "end", "days", "principals"/"principal_count", "events"), which
    pins what it names; keyword arguments fill in the rest."""
    name = name_or_path
    path = Path(name_or_path)
    if name_or_path not in PRESETS and path.suffix == ".json" and path.is_file():
        pinned = json.loads(path.read_text())
        name = pinned["scenario"]
        seed = int(pinned.get("seed", seed))
        if "end" in pinned and end is None:
            end = datetime.fromisoformat(pinned["end"].replace("Z", "+00:00"))
        days = days or pinned.get("days")
        principals = principals or pinned.get("principal_count") or len(pinned.get("principals", ())) or None
        events = events or pinned.get("target_events")
    if name not in PRESETS:
        raise ValueError(
            f"Unknown scenario {name_or_path!r}: use one of {', '.join(PRESETS)} or a scenario JSON file."
        )
    preset = PRESETS[name]
    return Scenario(
        name=name,
        preset=preset,
        seed=seed,
        end=_anchor(end),
        principals=principals or preset.principals,
        days=days or preset.days,
        events=events if events is not None else preset.events,
    )
