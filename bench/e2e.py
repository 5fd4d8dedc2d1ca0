"""End to end: the scale scenario's trail files, in the emulator's S3, ingested by real worker
processes (normalize, enrich, COPY) and run through every built-in policy and anomaly detector; the
clock stops when no task is left. Compared with the raw limits measured in the same run on the same
files (gunzip + parse + COPY into a bare table, one process; see _common.raw_limits). Prints figures;
asserts nothing.

BENCH_EVENTS sets the size (default 1,000,000); BENCH_WORKERS the worker processes (default: cores).
"""

import os
import tempfile
import time
from pathlib import Path

from _common import BENCH_DIR, raw_limits, report
from _stack import (
    Applied,
    apply,
    peak_rss_mb,
    reset_ingestion,
    send,
    start_emulator,
    trail_bodies,
    wait_until_idle,
    workers,
)

from alerts.models import Alert
from connectors.models import Activity, TrailFileRead

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2)))
TIMEOUT_SECONDS = 3600


def ingest_and_detect(applied: Applied, worker_count: int) -> dict:
    """One timed run from nothing read to every task done; returns its figures."""
    reset_ingestion(applied.connector)
    with workers(worker_count, BENCH_DIR / "logs") as processes:
        started = time.perf_counter()
        for region in applied.regions:
            send("connectors.ingest_region", applied.connector.pk, region)
        finished = wait_until_idle(TIMEOUT_SECONDS)
        rss = peak_rss_mb(processes)
    seconds = finished - started
    stored = Activity.objects.filter(connector=applied.connector).count()
    return {
        "workers": worker_count,
        "activities": stored,
        "files_read": TrailFileRead.objects.filter(connector=applied.connector).count(),
        "alerts": Alert.objects.count(),
        "seconds": round(seconds, 1),
        "events_per_second": round(stored / seconds, 1),
        "worker_peak_rss_mb": round(rss, 1),
    }


def main() -> None:
    emulator = start_emulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            applied = apply(emulator, Path(tmp), events=EVENTS)
            setup_seconds = time.perf_counter() - started
            run = ingest_and_detect(applied, WORKERS)
            limits = raw_limits(
                lambda: trail_bodies(applied.trail_bucket),
                applied.trail_files,
                applied.connector.pk,
                Path(tmp),
            )
    finally:
        emulator.stop()
    raw_rate, records_rate = (limits[name]["rows"] / limits[name]["seconds"] for name in ("rows", "records"))
    report(
        "e2e",
        {
            "events": applied.events,
            "trail_files": applied.trail_files,
            "setup_seconds": round(setup_seconds, 1),
            **run,
            "raw_limit_events_per_second": round(raw_rate, 1),
            "ratio_to_raw_limit": round(run["events_per_second"] / raw_rate, 3),
            "records_raw_limit_events_per_second": round(records_rate, 1),
            "ratio_to_records_raw_limit": round(run["events_per_second"] / records_rate, 3),
            "target_ratio": 0.5,
            "target_worker_rss_mb": 500,
        },
    )


if __name__ == "__main__":
    main()
