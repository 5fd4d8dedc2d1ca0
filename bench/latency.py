"""Alert latency: from a CloudTrail event appended to the emulator (behind LookupEvents) to its alert
in the database, with real workers and beat on the default poll interval (INGEST_POLL_SECONDS). The
event is a StopLogging call, which the built-in "CloudTrail configuration changes" policy alerts on;
each sample is appended at its own random moment of one poll cycle, and all are timed at once, so the
samples together take at most two poll intervals. Prints figures; asserts nothing.

BENCH_LATENCY_SAMPLES sets the number of events (default 5).
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
from _stack import apply, reset_ingestion, send, start_emulator, wait_until_idle, worker_env, workers

from alerts.models import Alert
from connectors.models import IngestCheckpoint
from defender.schedule import INGEST_POLL_SECONDS
from localaws.emulator import Emulator

SAMPLES = int(os.environ.get("BENCH_LATENCY_SAMPLES", "5"))
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


def sample(emulator: Emulator, account_id: str, regions: list[str], rng: random.Random) -> list[float]:
    """Append the samples at their random moments of the poll cycle, and time each to its alert."""
    due = sorted(rng.uniform(0, INGEST_POLL_SECONDS) for _ in range(SAMPLES))
    started = time.perf_counter()
    appended: dict[str, float] = {}  # event id -> when it was appended
    latencies = []
    while due or appended:
        while due and time.perf_counter() - started >= due[0]:
            due.pop(0)
            record = stop_logging_event(account_id, rng.choice(regions))
            emulator.store.add([record])
            appended[record["eventID"]] = time.perf_counter()
        for event_id, at in list(appended.items()):
            if Alert.objects.filter(activities__event_id=event_id).exists():
                latencies.append(time.perf_counter() - at)
                del appended[event_id]
            elif time.perf_counter() - at > SETTLE_SECONDS:
                raise TimeoutError(f"No alert for {event_id}")
        time.sleep(0.2)
    return latencies


def main() -> None:
    rng = random.Random()
    emulator = start_emulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            applied = apply(emulator, Path(tmp), events=2000, days=2, lookup_events=True)
            reset_ingestion(applied.connector)
            account_id = applied.connector.account_id
            with workers(2, BENCH_DIR / "logs"):
                beat = start_beat(BENCH_DIR / "logs" / "beat.log")
                try:
                    # Beat's database scheduler first polls one interval after it starts: the history
                    # is read now instead, and the samples start after it.
                    send("connectors.poll_all")
                    checkpoints = IngestCheckpoint.objects.filter(connector=applied.connector)
                    deadline = time.monotonic() + SETTLE_SECONDS
                    while checkpoints.filter(backfill_done=True).count() < len(applied.regions):
                        if time.monotonic() > deadline:
                            raise TimeoutError("The first poll did not finish")
                        time.sleep(0.5)
                    wait_until_idle(SETTLE_SECONDS)
                    latencies = sample(emulator, account_id, applied.regions, rng)
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
