"""The scenario as files: one events.json.gz, the CloudTrail delivery tree, and the side files the
product loads (manifest, identity directory, IP ranges, threat feeds). Everything streams."""

from __future__ import annotations

import calendar
import csv
import gzip
import io
import json
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from localaws.scenario import geo
from localaws.scenario.records import ALNUM, rng_for, token
from localaws.scenario.scenario import Scenario

MIN_WINDOW, MAX_WINDOW = 5 * 60, 15 * 60  # CloudTrail delivers a file per region every 5-15 minutes
DIRECTORY_COLUMNS = ("email", "display_name", "status", "terminated_at")
GZIP_LEVEL = 3  # twice as fast as level 6 for about 30% more bytes: the scale mode writes 1M events


def dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def trail_key(account: str, region: str, delivered: int, suffix: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(delivered))
    day = time.strftime("%Y/%m/%d", time.gmtime(delivered))
    return (
        f"AWSLogs/{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}_{suffix}.json.gz"
    )


@dataclass
class _Window:
    index: int
    start: int
    end: int
    records: int = 0
    compressor: object = None
    chunks: list[bytes] = field(default_factory=list)

    def add(self, text: str) -> None:
        if self.compressor is None:
            # wbits 31: a gzip member with no name and a zero timestamp, written as records arrive.
            self.compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
            self.chunks.append(self.compressor.compress(b'{"Records":[' + text.encode()))
        else:
            self.chunks.append(self.compressor.compress(b"," + text.encode()))
        self.records += 1

    def body(self) -> bytes:
        self.chunks.append(self.compressor.compress(b"]}"))
        self.chunks.append(self.compressor.flush())
        return b"".join(self.chunks)


class TrailFiles:
    """Groups time-ordered records into CloudTrail log files: per region, one file per 5-15 minute
    window that has events, named as CloudTrail names them. Holds one compressed window per region."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.windows: dict[str, _Window] = {}

    def _window(self, region: str, index: int, start: int) -> _Window:
        length = rng_for(self.scenario.salt, "trail-window", region, index).randint(MIN_WINDOW, MAX_WINDOW)
        return _Window(index, start, start + length)

    def add(self, region: str, t: int, text: str) -> Iterator[tuple[str, bytes]]:
        window = self.windows.get(region)
        if window is None:
            window = self.windows[region] = self._window(region, 0, self.scenario.start)
        if t >= window.end:
            if window.records:
                yield self._file(region, window)
            while t >= window.end:
                window = self._window(region, window.index + 1, window.end)
            self.windows[region] = window
        window.add(text)

    def close(self) -> Iterator[tuple[str, bytes]]:
        for region, window in sorted(self.windows.items()):
            if window.records:
                yield self._file(region, window)
        self.windows = {}

    def _file(self, region: str, window: _Window) -> tuple[str, bytes]:
        suffix = token(rng_for(self.scenario.salt, "trail-file", region, window.index), 16, ALNUM)
        return trail_key(self.scenario.account_id, region, window.end, suffix), window.body()


def event_epoch(stamp: str) -> int:
    """Epoch second of a CloudTrail eventTime ("2025-03-10T09:15:02Z"), cheaply."""
    day = _DAYS.get(stamp[:10])
    if day is None:
        day = _DAYS[stamp[:10]] = calendar.timegm(time.strptime(stamp[:10], "%Y-%m-%d"))
    return day + int(stamp[11:13]) * 3600 + int(stamp[14:16]) * 60 + int(stamp[17:19])


_DAYS: dict[str, int] = {}


def stream(scenario: Scenario) -> Iterator[tuple[dict, str, list[tuple[str, bytes]]]]:
    """Each record, its JSON text and the trail files it completed; a last empty item flushes the rest."""
    trail = TrailFiles(scenario)
    for rec in scenario.iter_events():
        text = dumps(rec)
        yield rec, text, list(trail.add(rec["awsRegion"], event_epoch(rec["eventTime"]), text))
    yield {}, "", list(trail.close())


def write_side_files(scenario: Scenario, out_dir: Path, stats: dict) -> list[Path]:
    """manifest.json, directory.csv, ip_ranges.json and the two threat feeds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "manifest.json"
    manifest.write_text(json.dumps(scenario.manifest(stats), indent=2) + "\n")
    directory = out_dir / "directory.csv"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=DIRECTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(scenario.directory_rows())
    directory.write_text(buffer.getvalue())
    ranges = out_dir / "ip_ranges.json"
    ranges.write_text(json.dumps({"ranges": [r.as_json() for r in geo.IP_RANGES]}, indent=2) + "\n")
    tor = out_dir / "threat_feed_tor.txt"
    tor.write_text(
        "# Tor exit nodes (scenario feed, one IPv4 address per line)\n"
        "# tag: tor\n" + "".join(f"{ip}\n" for ip in geo.TOR_EXIT_NODES)
    )
    botnet = out_dir / "threat_feed_botnet.txt"
    botnet.write_text(
        "# Suspicious IP addresses: botnet and C&C nodes, scanners (scenario feed)\n"
        "# tag: botnet\n" + "".join(f"{ip}\n" for ip in geo.BOTNET_NODES)
    )
    return [manifest, directory, ranges, tor, botnet]


def write_scenario_files(scenario: Scenario, out_dir: Path) -> list[Path]:
    """Write the scenario without a server; returns the files (and the trail directory) written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trail_root = out_dir / "trail"
    events_path = out_dir / "events.json.gz"
    trail_files = 0
    with (
        events_path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL) as events,
    ):
        events.write(b'{"Records":[')
        first = True
        for _, text, files in stream(scenario):
            if text:
                events.write((text if first else "," + text).encode())
                first = False
            for key, body in files:
                path = trail_root / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
                trail_files += 1
        events.write(b"]}")
    stats = scenario.stats()
    stats["trail_files"] = trail_files
    side = write_side_files(scenario, out_dir, stats)
    return [events_path, trail_root, *side]
