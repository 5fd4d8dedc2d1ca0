"""Ingestion throughput on PostgreSQL: the scale scenario's trail files through normalize, enrich and
the idempotent store (grouped and pipelined as the trail reader does it), against the raw limit
measured on the same files in the same run (gunzip + JSON parse + COPY of the same records into a bare
table). Wall-clock and CPU seconds, both sides: the CPU ratio is the steadier one on a shared machine.
Prints figures; asserts nothing.

BENCH_EVENTS sets the size (default 1,000,000).
"""

import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _common import compared, raw_limits, report, timed
from django.db import connection

from connectors.ingestion.normalize import iter_records, normalize_batch
from connectors.ingestion.s3_trail import RECORDS_PER_TRANSACTION
from connectors.ingestion.store import (
    PreparedBatches,
    StoreResult,
    StoreWriter,
    rare_collections,
    store_prepared,
)
from connectors.models import Activity, Connector
from defender.ipintel.classify import IpClassifier
from localaws.scenario import build_scenario, write_scenario_files

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))


def generate(out: Path) -> list[Path]:
    write_scenario_files(build_scenario("scale", events=EVENTS), out)
    return sorted((out / "trail").rglob("*.json.gz"))


def ingest(connector: Connector, files: list[Path]) -> int:
    """The trail files through the product's path, as connectors.ingestion.s3_trail drives it: one
    thread reads, normalizes and prepares, a StoreWriter stores the previous batches meanwhile."""
    classifier = IpClassifier.load()
    total = StoreResult()
    batches: list = []
    records = 0

    def store(prepared: PreparedBatches, in_turn: Callable[[], None]) -> None:
        total.merge(store_prepared(connector=connector, prepared=prepared, in_turn=in_turn))

    def flush() -> None:
        writer.submit(
            partial(store, writer.prepare(connector=connector, batches=batches, classifier=classifier))
        )

    with rare_collections(), StoreWriter() as writer:
        for path in files:
            batch = normalize_batch(iter_records(path.read_bytes()))
            batches.append((str(path), batch))
            records += batch.total
            if records >= RECORDS_PER_TRANSACTION:
                flush()
                batches, records = [], 0
        if batches:
            flush()
    return total.inserted


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("bench/ingest.py measures PostgreSQL: run it through `make bench`.")
    connector, _ = Connector.objects.get_or_create(
        name="Benchmark", defaults={"status": Connector.Status.CONNECTED, "account_id": "123456789012"}
    )
    Activity.objects.filter(connector=connector).delete()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        files = generate(Path(tmp))
        generated = time.perf_counter() - started
        connection.ensure_connection()
        ingested = timed(lambda: ingest(connector, files))
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        limits = raw_limits(lambda: map(Path.read_bytes, files), len(files), connector.pk, Path(tmp))
    report(
        "ingest",
        {
            "events": ingested["rows"],
            "trail_files": len(files),
            "generate_seconds": round(generated, 1),
            **compared(ingested, limits),
            "peak_rss_mb": round(peak_rss_mb, 1),
            "target_ratio": 0.5,
            "target_rss_mb": 500,
        },
    )


if __name__ == "__main__":
    main()
