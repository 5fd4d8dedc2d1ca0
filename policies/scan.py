"""Detection as code: the engine over CloudTrail log files, without touching stored data.

``scan_files`` reads exported logs (every form ``iter_records`` reads, gzip or not), normalizes and
enriches them in memory (GeoIP from the bundled database; no IP ranges or threat feeds, which live
in the database), and runs the built-in templates with their default settings plus the registered
anomaly detectors (learning from the first event of the files), with no daily limits. It never
reads nor writes the database.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from connectors.ingestion.normalize import BadLine, MalformedRecord, iter_records, normalize
from defender.ipintel.classify import IpClassifier, enrich
from policies.engine import Finding, MemoryHistory, PolicySpec, evaluate_batch
from policies.engine.detectors.registry import get_detector
from policies.engine.spec import TYPE_ACTIVITY, TYPE_ANOMALY
from policies.templates.registry import all_templates

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# Fields of an activity the engine never reads: dropped to keep large scans in memory.
UNUSED = ("raw", "request_parameters")


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file:line: reason"
    activities: int = 0
    duplicates: int = 0


def scan_policies(keys: Sequence[str] | None = None) -> list[PolicySpec]:
    """The policies a scan runs: activity templates, and anomaly templates with a detector; only
    ``keys`` if given (``ValueError`` naming any unknown key)."""
    runnable = [
        t
        for t in all_templates()
        if t.type == TYPE_ACTIVITY or (t.type == TYPE_ANOMALY and get_detector(t.key) is not None)
    ]
    if keys:
        known = {t.key for t in all_templates()}
        unknown = [key for key in keys if key not in known]
        if unknown:
            raise ValueError(f"Unknown policy template: {', '.join(unknown)}")
        runnable = [t for t in runnable if t.key in set(keys)]
    return [t.spec() for t in runnable]


def scan_files(
    paths: Iterable[str | Path],
    *,
    policy_keys: Sequence[str] | None = None,
    classifier: IpClassifier | None = None,
    directory: dict | None = None,
) -> ScanResult:
    """``classifier``: IP ranges and threat feeds from files (never the database); none by default.
    ``directory``: the identity provider's people from a file (``connectors.directory.snapshot_of``)."""
    specs = scan_policies(policy_keys)
    classifier = classifier or IpClassifier.build([], [])
    result = ScanResult()
    activities: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in paths:
        for location, record in _records(Path(path), str(path)):
            if isinstance(record, BadLine):
                result.problems.append(f"{location}: {record.error}")
                continue
            try:
                normalized = normalize(record)
            except MalformedRecord as error:
                result.problems.append(f"{location}: {error.reason}")
                continue
            except Exception as error:  # a bug must not stop a scan: report the record and go on
                result.problems.append(f"{location}: the record could not be normalized ({error})")
                continue
            if normalized.event_id in seen:
                result.duplicates += 1
                continue
            seen.add(normalized.event_id)
            fields = normalized.as_fields()
            for name in UNUSED:
                fields.pop(name, None)
            activities.append(enrich(fields, classifier))
    activities.sort(key=lambda a: (a["event_time"], a["event_id"]))
    result.activities = len(activities)
    result.findings = evaluate_batch(
        specs,
        activities,
        history=MemoryHistory(activities),
        states={},
        context={"directory": directory or {}},
    )
    return result


def _records(path: Path, name: str) -> Iterator[tuple[str, Any]]:
    """(``file:line``, record) for every record of one file; unreadable parts come as BadLine."""
    try:
        data = path.read_bytes()
    except OSError as error:
        yield f"{name}:0", BadLine(0, "", f"cannot read the file ({error.strerror or error})")
        return
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            yield f"{name}:1", BadLine(1, "", f"the compressed file is damaged or truncated ({error})")
            return
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    lines = data.split(b"\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return
    try:
        orjson.loads(lines[first])
    except orjson.JSONDecodeError:
        # One document over several lines (pretty-printed): records carry the document's first line.
        for record in iter_records(data):
            line = record.line_number if isinstance(record, BadLine) else first + 1
            yield f"{name}:{line}", record
        return
    # One document per line (JSON lines, or a single-line trail file).
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield f"{name}:{number}", BadLine(number, "", f"not valid JSON ({error})")
            continue
        records = list(iter_records(line))
        for index, record in enumerate(records, start=1):
            where = f"{name}:{number}" if len(records) == 1 else f"{name}:{number}: record {index}"
            yield where, record
