"""Scale-out: the end-to-end run (bench/e2e.py) with 1, 2 and 4 worker processes on the same trail
files, and the speed-up over one worker. On a machine with fewer cores than workers the extra
processes only share them. Prints figures; asserts nothing.

BENCH_SCALEOUT_EVENTS sets the size (default 150,000: three runs, each from nothing read, must fit in
`make bench`'s 30 minutes on two cores).
"""

import os
import tempfile
import time
from pathlib import Path

from _common import report
from _stack import apply, start_emulator
from e2e import ingest_and_detect

EVENTS = int(os.environ.get("BENCH_SCALEOUT_EVENTS", "150000"))
WORKER_COUNTS = (1, 2, 4)


def main() -> None:
    emulator = start_emulator()
    figures: dict = {"cores": os.cpu_count()}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            applied = apply(emulator, Path(tmp), events=EVENTS)
            figures["events"] = applied.events
            figures["setup_seconds"] = round(time.perf_counter() - started, 1)
            single = None
            for count in WORKER_COUNTS:
                run = ingest_and_detect(applied, count)
                single = single or run["events_per_second"]
                figures[f"workers_{count}"] = {
                    "events_per_second": run["events_per_second"],
                    "seconds": run["seconds"],
                    "speed_up": round(run["events_per_second"] / single, 2),
                    "worker_peak_rss_mb": run["worker_peak_rss_mb"],
                    "alerts": run["alerts"],
                }
    finally:
        emulator.stop()
    report("scaleout", figures)


if __name__ == "__main__":
    main()
