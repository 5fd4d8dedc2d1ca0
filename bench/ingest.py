"""Ingestion throughput on PostgreSQL: the scale scenario's trail files through normalize, enrich and
the idempotent store, against the raw limit measured on the same files in the same run (gunzip +
JSON parse + COPY of the same records into a bare table). Prints figures; asserts nothing.

BENCH_EVENTS sets the size (default 1,000,000).
"""

import gzip
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson
from _common import report
from django.db import connection

from connectors.ingestion.normalize import iter_records
from connectors.ingestion.store import store_records
from connectors.models import Activity, Connector
from defender.ipintel.classify import IpClassifier
from localaws.scenario import build_scenario, write_scenario_files

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
CHUNK = 5000  # connectors.ingestion.s3_trail.RECORDS_PER_TRANSACTION


def generate(out: Path) -> list[Path]:
    write_scenario_files(build_scenario("scale", events=EVENTS), out)
    return sorted((out / "trail").rglob("*.json.gz"))


def ingest(files: list[Path]) -> tuple[int, float]:
    connector, _ = Connector.objects.get_or_create(
        name="Benchmark", defaults={"status": Connector.Status.CONNECTED, "account_id": "123456789012"}
    )
    Activity.objects.filter(connector=connector).delete()
    classifier = IpClassifier.load()
    inserted = 0
    chunk: list = []
    started = time.perf_counter()
    for path in files:
        chunk.extend(iter_records(path.read_bytes()))
        if len(chunk) >= CHUNK:
            inserted += store_records(
                connector=connector, records=chunk, source="bench", classifier=classifier
            ).inserted
            chunk = []
    if chunk:
        inserted += store_records(
            connector=connector, records=chunk, source="bench", classifier=classifier
        ).inserted
    return inserted, time.perf_counter() - started


def raw_limit(files: list[Path]) -> tuple[int, float]:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw")
        cursor.execute(
            "CREATE TABLE bench_raw (event_id text, event_time timestamptz, event_name text, raw jsonb)"
        )
        rows = 0
        started = time.perf_counter()
        with cursor.copy("COPY bench_raw (event_id, event_time, event_name, raw) FROM STDIN") as copy:
            for path in files:
                for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
                    copy.write_row(
                        (
                            record["eventID"],
                            record["eventTime"],
                            record["eventName"],
                            orjson.dumps(record).decode(),
                        )
                    )
                    rows += 1
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_raw")
    return rows, elapsed


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("bench/ingest.py measures PostgreSQL: run it through `make bench`.")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        files = generate(Path(tmp))
        generated = time.perf_counter() - started
        inserted, ingest_seconds = ingest(files)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows, raw_seconds = raw_limit(files)
    ingest_rate, raw_rate = inserted / ingest_seconds, rows / raw_seconds
    report(
        "ingest",
        {
            "events": inserted,
            "trail_files": len(files),
            "generate_seconds": round(generated, 1),
            "events_per_second": round(ingest_rate, 1),
            "raw_limit_events_per_second": round(raw_rate, 1),
            "ratio_to_raw_limit": round(ingest_rate / raw_rate, 3),
            "peak_rss_mb": round(peak_rss_mb, 1),
            "target_ratio": 0.5,
            "target_rss_mb": 500,
        },
    )


if __name__ == "__main__":
    main()
