"""python manage.py scan_cloudtrail FILE... [--policy KEY ...] [--format jsonl|table]

Runs the detection engine over exported CloudTrail logs without touching stored data and prints one
line per alert, sorted by first activity. Malformed records are reported on stderr and skipped.
"""

from __future__ import annotations

import orjson
from django.core.management.base import BaseCommand, CommandError

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

    def handle(self, *args, **options) -> None:
        try:
            result = scan_files(options["files"], policy_keys=options["policies"])
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
