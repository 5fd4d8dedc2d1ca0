"""Alert latency: from a CloudTrail event appended to the emulator (behind LookupEvents) to its alert
in the database, with real workers and beat on the default poll interval (INGEST_POLL_SECONDS). The
event is a StopLogging call, which the built-in "CloudTrail configuration changes" policy alerts on;
each sample is appended at a random moment of the poll cycle. Prints figures; asserts nothing.

BENCH_LATENCY_SAMPLES sets the number of events (default 2; each takes up to one poll interval).
"""

import copy
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
from _common import BENCH_DIR, ROOT, report
from _stack import apply, reset_ingestion, start_emulator, wait_until_idle, worker_env, workers

from alerts.models import Alert
from connectors.models import IngestCheckpoint
from defender.schedule import INGEST_POLL_SECONDS

SAMPLES = int(os.environ.get("BENCH_LATENCY_SAMPLES", "2"))
FIXTURE = ROOT / "tests" / "fixtures" / "cloudtrail" / "iam_user_api_call.json"
SETTLE_SECONDS = 3 * INGEST_POLL_SECONDS


def stop_logging_event(account_id: str, region: str) -> dict:
    record = copy.deepcopy(orjson.loads(FIXTURE.read_bytes()))
    record.update(
        eventID=str(uuid.uuid4()),
        eventTime=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        eventSource="cloudtrail.amazonaws.com",
        eventName="StopLogging",
        readOnly=False,
        awsRegion=region,
        recipientAccountId=account_id,
        requestParameters={"name": "org-trail"},
    )
    record["userIdentity"]["accountId"] = account_id
    return record


def start_beat(log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "defender", "beat", "--loglevel", "WARNING"],
        cwd=ROOT,
        env=worker_env(),
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def main() -> None:
    rng = random.Random()
    emulator = start_emulator()
    latencies = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            applied = apply(emulator, Path(tmp), events=2000, days=2, lookup_events=True)
            reset_ingestion(applied.connector)
            account_id = applied.connector.account_id
            with workers(2, BENCH_DIR / "logs"):
                beat = start_beat(BENCH_DIR / "logs" / "beat.log")
                try:
                    # Beat's first poll backfills the scenario's history; the samples start after it.
                    checkpoints = IngestCheckpoint.objects.filter(connector=applied.connector)
                    deadline = time.monotonic() + SETTLE_SECONDS
                    while checkpoints.filter(backfill_done=True).count() < len(applied.regions):
                        if time.monotonic() > deadline:
                            raise TimeoutError("The first poll did not finish")
                        time.sleep(0.5)
                    wait_until_idle(SETTLE_SECONDS)
                    for _ in range(SAMPLES):
                        time.sleep(rng.uniform(0, INGEST_POLL_SECONDS))
                        record = stop_logging_event(account_id, rng.choice(applied.regions))
                        emulator.store.add([record])
                        appended = time.perf_counter()
                        alerts = Alert.objects.filter(activities__event_id=record["eventID"])
                        while not alerts.exists():
                            if time.perf_counter() - appended > SETTLE_SECONDS:
                                raise TimeoutError(f"No alert for {record['eventID']}")
                            time.sleep(0.2)
                        latencies.append(time.perf_counter() - appended)
                finally:
                    os.killpg(beat.pid, signal.SIGTERM)
                    beat.wait(30)
    finally:
        emulator.stop()
    report(
        "latency",
        {
            "poll_interval_seconds": INGEST_POLL_SECONDS,
            "samples": len(latencies),
            "max_seconds": round(max(latencies), 1),
            "mean_seconds": round(sum(latencies) / len(latencies), 1),
            "target_seconds": INGEST_POLL_SECONDS + 10,
        },
    )


if __name__ == "__main__":
    main()
