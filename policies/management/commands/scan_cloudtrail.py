"""python manage.py scan_cloudtrail FILE... [--policy KEY ...] [--format jsonl|table]

Runs the detection engine over exported CloudTrail logs without touching stored data and prints one
line per alert, sorted by first activity. Malformed records are reported on stderr and skipped.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from connectors.directory import parse_directory_csv, snapshot_of
from defender.ipintel.classify import FeedSpec, IpClassifier, RangeSpec
from defender.ipintel.networks import parse_feed
from defender.ipintel.tags import KIND_TAGS
from policies.engine.findings import iso
from policies.scan import scan_files


class Command(BaseCommand):
    help = "Run the built-in policies over CloudTrail log files and print what they would alert on."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help=".json, .json.gz or JSON lines")
        parser.add_argument(
            "--policy",
            action="append",
            dest="policies",
            metavar="KEY",
            help="Only this template (repeat for several); default: all built-in templates.",
        )
        parser.add_argument("--format", choices=["jsonl", "table"], default="jsonl")
        parser.add_argument(
            "--ip-ranges",
            metavar="FILE.json",
            help="IP address ranges to classify IPs with: the JSON that load_ip_ranges reads. "
            "Without it no IP is corporate or risky.",
        )
        parser.add_argument(
            "--threat-feed",
            action="append",
            default=[],
            metavar="KIND=FILE",
            help="A threat feed file (one IP or network per line), e.g. tor_exit_nodes=tor.txt; repeatable.",
        )
        parser.add_argument(
            "--directory",
            metavar="FILE.csv",
            help="The identity provider's people (email, display name, status, terminated at), for the "
            "terminated-user detector.",
        )

    def handle(self, *args, **options) -> None:
        try:
            classifier = _classifier(options["ip_ranges"], options["threat_feed"])
            directory = _directory(options["directory"])
            result = scan_files(
                options["files"], policy_keys=options["policies"], classifier=classifier, directory=directory
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        for problem in result.problems:
            self.stderr.write(problem)
        if options["format"] == "table":
            self._table(result.findings)
        else:
            for finding in result.findings:
                self.stdout.write(orjson.dumps(finding.as_json()).decode())
        skipped = f", {len(result.problems)} malformed records skipped" if result.problems else ""
        self.stderr.write(
            f"{result.activities} activities scanned: {len(result.findings)} alerts{skipped}.",
            style_func=lambda text: text,
        )

    def _table(self, findings) -> None:
        header = ("FIRST SEEN", "LAST SEEN", "SEVERITY", "POLICY", "PRINCIPAL", "EVENTS", "TITLE")
        rows = [
            (
                iso(f.first_seen),
                iso(f.last_seen),
                f.severity,
                f.policy_key,
                f.principal,
                str(f.activity_count or len(f.event_ids)),
                f.title,
            )
            for f in findings
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[-1]]).rstrip())


def _classifier(ranges_path: str | None, feeds: list[str]) -> IpClassifier:
    """IP ranges and feeds from files, so a scan classifies IPs as the portal would, without its data."""
    ranges: list[RangeSpec] = []
    if ranges_path:
        try:
            entries = orjson.loads(Path(ranges_path).read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            raise ValueError(f"--ip-ranges {ranges_path}: {error}") from error
        entries = entries.get("ranges", []) if isinstance(entries, dict) else entries
        ranges = [
            RangeSpec(name=e["name"], category=e["category"], cidrs=e["cidrs"], tags=e.get("tags", ()))
            for e in entries
        ]
    specs: list[FeedSpec] = []
    for item in feeds:
        kind, _, path = item.partition("=")
        if kind not in KIND_TAGS or not path:
            raise ValueError(
                f"--threat-feed {item}: expected KIND=FILE with KIND one of {', '.join(KIND_TAGS)}"
            )
        try:
            networks = parse_feed(Path(path).read_bytes()).networks
        except OSError as error:
            raise ValueError(f"--threat-feed {item}: {error}") from error
        specs.append(FeedSpec(name=Path(path).name, kind=kind, tag=KIND_TAGS[kind], networks=networks))
    return IpClassifier.build(ranges, specs)


def _directory(path: str | None) -> dict:
    if not path:
        return {}
    try:
        rows, errors = parse_directory_csv(Path(path).read_bytes())
    except (OSError, ValidationError) as error:
        message = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        raise ValueError(f"--directory {path}: {message}") from error
    if errors:
        raise ValueError(f"--directory {path}: {'; '.join(errors[:5])}")
    return snapshot_of(rows)
