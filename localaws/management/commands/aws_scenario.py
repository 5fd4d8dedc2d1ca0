import time
from datetime import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from localaws.scenario import PRESETS, build_scenario, write_scenario_files


def _anchor(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise CommandError(
            f"--end must be an ISO 8601 time such as 2025-03-10T12:00:00Z, not {value!r}."
        ) from error


def _positive(value: str) -> int:
    number = int(value.replace(",", "").replace("_", ""))
    if number <= 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Write a deterministic AWS account scenario as files: events.json.gz, the CloudTrail delivery tree "
        "(trail/AWSLogs/...), manifest.json, directory.csv, ip_ranges.json and two threat feeds. "
        "Same name, seed and --end: byte-identical files."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help=f"{', '.join(PRESETS)}, or a scenario/manifest JSON file.")
        parser.add_argument("--out", required=True, type=Path, help="Directory to write into (created).")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--end", type=_anchor, help="Anchor (the last event's hour). Default: now, UTC.")
        parser.add_argument("--principals", type=_positive, help="Principals in the account.")
        parser.add_argument("--days", type=_positive, help="Days of history before --end.")
        parser.add_argument(
            "--events", type=_positive, help="Exact number of events (scale: 1,000,000 by default)."
        )

    def handle(self, *args, name, out, seed, end, principals, days, events, **options):
        started = time.monotonic()
        try:
            scenario = build_scenario(
                name, seed=seed, end=end, principals=principals, days=days, events=events
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Scenario {scenario.name} (seed {scenario.seed}): {len(scenario.cast)} principals, "
            f"{scenario.days} days up to {scenario.end_at:%Y-%m-%dT%H:%M:%SZ}"
        )
        written = write_scenario_files(scenario, out)
        stats = scenario.stats()
        for path in written:
            self.stdout.write(f"  {path}{'/' if path.is_dir() else ''}")
        self.stdout.write(
            f"{stats['event_count']:,} events ({stats['management_event_count']:,} management) in "
            + ", ".join(f"{region} {count:,}" for region, count in stats["events_by_region"].items())
        )
        self.stdout.write(
            f"{len(scenario.episodes.episodes)} episodes, "
            f"{len(scenario.manifest(stats)['must_not_fire'])} look-alike groups; "
            f"done in {time.monotonic() - started:.1f}s"
        )
