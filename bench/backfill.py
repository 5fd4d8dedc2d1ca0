"""LookupEvents backfill: 7 days of the scale scenario's management events dealt evenly over four
regions, read by real workers (one per region, all four at once) against the emulator's limit of 2
requests per second per region and 50 events per page, as AWS does. Compared with the API-limited
minimum, events / (50 x 2 x regions), and with the bound of the busiest region (its pages / 2 per
second); also how many regions were being read at the same moment, and the throttled requests.
Prints figures; asserts nothing.

BENCH_BACKFILL_EVENTS sets the scenario's size (default 30,000 events; its management events, nearly
all of them, are behind LookupEvents: a 75-second read at the API's limit).
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

EVENTS = int(os.environ.get("BENCH_BACKFILL_EVENTS", "30000"))
DAYS = 7
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
TIMEOUT_SECONDS = 3600


def main() -> None:
    emulator = start_emulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            applied = apply(
                emulator, Path(tmp), events=EVENTS, days=DAYS, lookup_events=True, lookup_regions=REGIONS
            )
            reset_ingestion(applied.connector)
            by_region = Counter({region: emulator.store.count(region=region) for region in applied.regions})
            throttled_before = emulator.throttle.throttled
            with workers(len(applied.regions), BENCH_DIR / "logs"):
                started = time.perf_counter()
                for region in applied.regions:
                    send("connectors.ingest_region", applied.connector.pk, region)
                checkpoints = IngestCheckpoint.objects.filter(connector=applied.connector)
                # Regions claimed at the same moment: the fan-out's parallelism as the workers ran it.
                most_at_once = 0
                done: dict[str, float] = {}
                while len(done) < len(applied.regions):
                    time.sleep(0.2)
                    most_at_once = max(most_at_once, checkpoints.filter(running_since__isnull=False).count())
                    for region in checkpoints.filter(backfill_done=True).values_list("region", flat=True):
                        done.setdefault(region, time.perf_counter() - started)
                read_seconds = max(done.values())
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
            "workers": len(applied.regions),
            "most_regions_read_at_once": most_at_once,
            "first_region_done_seconds": round(min(done.values()), 1),
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
