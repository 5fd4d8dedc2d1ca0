"""The running system the end-to-end benchmarks measure: the local AWS emulator (a thread of the
benchmark process), a scenario applied to it, a connector, and real Celery worker processes on the
benchmark's PostgreSQL and Redis. Also the raw limit (gunzip + parse + COPY) and the worker's peak RSS.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import redis
from _common import ROOT
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from connectors.models import Activity, Connector, IngestCheckpoint, TrailFileRead
from localaws.emulator import Emulator
from localaws.scenario import apply_scenario, build_scenario

QUEUES = ("ingest", "detect", "governance", "default")
# kombu's Redis transport keeps a priority message in "<queue>\x06\x16<step>" beside the plain list.
PRIORITY_STEPS = ("", "\x06\x163", "\x06\x166", "\x06\x169")
WORKER_READY_SECONDS = 90


@dataclass
class Applied:
    emulator: Emulator
    connector: Connector
    regions: list[str]
    events: int
    lookup_events: int
    trail_files: int
    trail_bucket: str
    files_dir: Path


def start_emulator() -> Emulator:
    emulator = Emulator(host="127.0.0.1", port=0).start()
    settings.AWS_ENDPOINT_URL = emulator.endpoint_url
    return emulator


def apply(
    emulator: Emulator, out_dir: Path, *, events: int, days: int | None = None, lookup_events: bool = False
) -> Applied:
    """The scale scenario in the emulator (its trail files in S3; its management events also behind
    LookupEvents when ``lookup_events``), its reference data loaded, a connector on it, and every
    built-in policy enabled."""
    scenario = build_scenario("scale", events=events, days=days, end=datetime.now(UTC))
    applied = apply_scenario(
        scenario,
        endpoint_url=emulator.endpoint_url,
        add_events=emulator.store.add if lookup_events else (lambda records: None),
        out_dir=out_dir,
    )
    stats = scenario.stats()
    _load_reference_data(out_dir)
    regions = sorted(stats["events_by_region"])
    connector = create_connector(
        emulator,
        account_id=scenario.account_id,
        regions=regions,
        trail_bucket=scenario.spec.trail_bucket,
        mode=Connector.IngestMode.LOOKUP_EVENTS if lookup_events else Connector.IngestMode.S3_TRAIL,
    )
    enable_every_policy()
    return Applied(
        emulator=emulator,
        connector=connector,
        regions=regions,
        events=stats["event_count"],
        lookup_events=applied.lookup_events,
        trail_files=applied.trail_files,
        trail_bucket=scenario.spec.trail_bucket,
        files_dir=out_dir,
    )


def _load_reference_data(out_dir: Path) -> None:
    """IP ranges, threat feeds and the directory, as an administrator loads them: enrichment and the
    detectors then do their full work."""
    files = {path.name: path for path in out_dir.rglob("*") if path.is_file()}
    if "ip_ranges.json" in files:
        call_command("load_ip_ranges", str(files["ip_ranges.json"]), verbosity=0, stdout=io.StringIO())
    for name, kind, tag in (
        ("threat_feed_tor.txt", "tor_exit_nodes", "Tor exit node"),
        ("threat_feed_botnet.txt", "botnet", "Botnet"),
    ):
        if name in files:
            call_command(
                "load_threat_feed", tag, str(files[name]), "--kind", kind, "--tag", tag, stdout=io.StringIO()
            )


def create_connector(
    emulator: Emulator, *, account_id: str, regions: list[str], trail_bucket: str, mode: str
) -> Connector:
    name = "Benchmark"
    Activity.objects.filter(connector__name=name).delete()
    Connector.objects.filter(name=name).delete()
    connector = Connector(
        name=name,
        account_id=account_id,
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        regions=regions,
        endpoint_url=emulator.endpoint_url,
        history_days=Connector.HistoryDays.MONTH,
        ingest_mode=mode,
        trail_bucket=trail_bucket,
        status=Connector.Status.CONNECTED,
    )
    connector.secret_access_key = "benchmark-secret"
    connector.save()
    return connector


def enable_every_policy() -> None:
    from policies.models import Policy
    from policies.services import policies_install_builtin

    policies_install_builtin()
    # active_since in the past: a benchmark's history counts as new activity, as after a fresh install.
    Policy.objects.update(enabled=True, active_since=datetime(2000, 1, 1, tzinfo=UTC))


def reset_ingestion(connector: Connector) -> None:
    """Forget what was read so the same files are ingested again (scale-out runs)."""
    from alerts.models import Alert
    from policies.models import DetectorState

    Alert.objects.all().delete()
    DetectorState.objects.all().delete()
    Activity.objects.filter(connector=connector).delete()
    TrailFileRead.objects.filter(connector=connector).delete()
    IngestCheckpoint.objects.filter(connector=connector).delete()
    Connector.objects.filter(pk=connector.pk).update(events_ingested=0, last_activity_at=None)
    purge_tasks()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE connectors_activity")


# --- workers ---------------------------------------------------------------------------------------


def worker_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": settings.AWS_ENDPOINT_URL,
        "CELERY_TASK_ALWAYS_EAGER": "False",
        **extra,
    }


@contextmanager
def workers(count: int, log_dir: Path, *, env: dict[str, str] | None = None) -> Iterator[list]:
    """``count`` worker processes (one task at a time each, as sized in production), on every queue."""
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    try:
        for index in range(count):
            processes.append(_start_worker(index, log_dir / f"worker-{index}.log", env or worker_env()))
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _start_worker(index: int, log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "defender",
            "worker",
            "-Q",
            ",".join(QUEUES),
            "-n",
            f"bench{index}@%h",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + WORKER_READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"A Celery worker exited at start; see {log_path}")
        if _ready(process.pid):
            return process
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"A Celery worker did not start in {WORKER_READY_SECONDS} s; see {log_path}")


def _ready(pid: int) -> bool:
    """The worker consumes once it holds a connection to Redis (it logs nothing at WARNING)."""
    port = str(redis.Redis.from_url(settings.CELERY_BROKER_URL).connection_pool.connection_kwargs["port"])
    try:
        with open(f"/proc/{pid}/net/tcp") as handle:
            table = handle.read()
    except OSError:
        return False
    return f":{int(port):04X} 01" in table.upper()


def peak_rss_mb(processes: list[subprocess.Popen]) -> float:
    """The largest peak resident set (VmHWM) among the worker processes, in MB."""
    peaks = []
    for process in processes:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def pending_tasks() -> int:
    """Tasks queued or taken but not yet acknowledged (tasks are acknowledged late, when done)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queued = sum(client.llen(queue + step) for queue in QUEUES for step in PRIORITY_STEPS)
    return queued + client.hlen("unacked")


def purge_tasks() -> None:
    """Drop tasks earlier benchmarks left queued (ingest.py and detect.py store without a worker)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(*[queue + step for queue in QUEUES for step in PRIORITY_STEPS], "unacked", "unacked_index")


def wait_until_idle(timeout: float, *, settle: float = 1.0) -> float:
    """Block until no task is queued or running (twice in a row, ``settle`` apart); returns when that
    was first seen, by time.perf_counter()."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending_tasks() == 0:
            seen = time.perf_counter()
            time.sleep(settle)
            if pending_tasks() == 0:
                return seen
        else:
            time.sleep(0.2)
    raise TimeoutError(f"Tasks still pending after {timeout:.0f} s")


def send(task: str, *args) -> None:
    from defender.celery import app

    app.send_task(task, args=list(args))


# --- the raw limit ---------------------------------------------------------------------------------


def trail_bodies(bucket: str) -> list[bytes]:
    """The gzipped trail files, read from the emulator's memory (not timed: the raw limit measures
    gunzip + parse + COPY, not S3)."""
    from moto.s3.models import s3_backends

    from localaws.emulator import DEFAULT_ACCOUNT_ID

    for account in [DEFAULT_ACCOUNT_ID, *s3_backends]:
        buckets = s3_backends[account]["global"].buckets
        if bucket in buckets:
            keys = buckets[bucket].keys
            return [keys[name].value for name in sorted(keys) if name.endswith(".json.gz")]
    raise LookupError(f"No bucket {bucket} in the emulator")


def raw_limit(bodies: list[bytes]) -> tuple[int, float]:
    """gunzip + JSON parse + COPY of every record (its id, time, name and the record as jsonb) into a
    bare table: the floor any ingestion path pays, measured on this machine in this run."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw")
        cursor.execute(
            "CREATE TABLE bench_raw (event_id text, event_time timestamptz, event_name text, raw jsonb)"
        )
        rows = 0
        started = time.perf_counter()
        with cursor.copy("COPY bench_raw (event_id, event_time, event_name, raw) FROM STDIN") as copy:
            for body in bodies:
                for record in orjson.loads(gzip.decompress(body))["Records"]:
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
