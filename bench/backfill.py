"""LookupEvents backfill: 7 days of the scale scenario's management events over its regions, read by
real workers (one per region) against the emulator's limit of 2 requests per second per region and 50
events per page, as AWS does. Compared with the API-limited minimum, events / (50 x 2 x regions), and
with the bound of the busiest region (its pages / 2 per second). Prints figures; asserts nothing.

BENCH_BACKFILL_EVENTS sets the scenario's size (default 60,000 events, management events of them
behind LookupEvents).
"""

import math
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import BENCH_DIR, report
from _stack import apply, reset_ingestion, send, start_emulator, wait_until_idle, workers
from django.conf import settings

from connectors.models import Activity, IngestCheckpoint
from localaws.emulator import MAX_RESULTS

EVENTS = int(os.environ.get("BENCH_BACKFILL_EVENTS", "60000"))
DAYS = 7
TIMEOUT_SECONDS = 3600


def main() -> None:
    emulator = start_emulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            applied = apply(emulator, Path(tmp), events=EVENTS, days=DAYS, lookup_events=True)
            reset_ingestion(applied.connector)
            by_region = Counter({region: emulator.store.count(region=region) for region in applied.regions})
            throttled_before = emulator.throttle.throttled
            with workers(len(applied.regions), BENCH_DIR / "logs"):
                started = time.perf_counter()
                for region in applied.regions:
                    send("connectors.ingest_region", applied.connector.pk, region)
                checkpoints = IngestCheckpoint.objects.filter(connector=applied.connector)
                while checkpoints.filter(backfill_done=True).count() < len(applied.regions):
                    time.sleep(0.2)
                read_seconds = time.perf_counter() - started
                idle_seconds = wait_until_idle(TIMEOUT_SECONDS) - started
            throttled = emulator.throttle.throttled - throttled_before
    finally:
        emulator.stop()
    events = sum(by_region.values())
    rate = settings.LOOKUP_EVENTS_PER_SECOND
    minimum = events / (MAX_RESULTS * rate * len(by_region))
    busiest = max(math.ceil(count / MAX_RESULTS) for count in by_region.values()) / rate
    report(
        "backfill",
        {
            "days": DAYS,
            "regions": len(by_region),
            "lookup_events": events,
            "busiest_region_events": max(by_region.values()),
            "activities": Activity.objects.filter(connector=applied.connector).count(),
            "seconds": round(read_seconds, 1),
            "seconds_until_detected": round(idle_seconds, 1),
            "api_minimum_seconds": round(minimum, 1),
            "busiest_region_minimum_seconds": round(busiest, 1),
            "ratio_to_api_minimum": round(read_seconds / minimum, 3),
            "ratio_to_busiest_region_minimum": round(read_seconds / busiest, 3),
            "throttled_requests": throttled,
            "target_ratio": 1.2,
        },
    )


if __name__ == "__main__":
    main()
