"""The running system the end-to-end benchmarks measure: the local AWS emulator (a thread of the
benchmark process), a scenario applied to it, a connector, and real Celery worker processes on the
benchmark's PostgreSQL and Redis. Also the trail files as the emulator holds them, for the raw limit
(bench/_common.py), and the workers' peak RSS.
"""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import _common  # noqa: F401 - sets Django up before the models below are imported
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from connectors.models import Activity, Connector, IngestCheckpoint, TrailFileRead
from defender.worker_process import start_worker, stop_workers
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
    emulator: Emulator,
    out_dir: Path,
    *,
    events: int,
    days: int | None = None,
    lookup_events: bool = False,
    lookup_regions: tuple[str, ...] = (),
) -> Applied:
    """The scale scenario in the emulator (its trail files in S3; its management events also behind
    LookupEvents when ``lookup_events``), its reference data loaded, a connector on it, and every
    built-in policy enabled. With ``lookup_regions`` the management events are dealt over those
    regions in turn instead of the scenario's own, and the connector reads those regions."""
    scenario = build_scenario("scale", events=events, days=days, end=datetime.now(UTC))
    add_events = emulator.store.add if lookup_events else (lambda records: None)
    if lookup_regions:
        add_events = _dealt_over(lookup_regions, add_events)
    applied = apply_scenario(
        scenario, endpoint_url=emulator.endpoint_url, add_events=add_events, out_dir=out_dir
    )
    stats = scenario.stats()
    _load_reference_data(out_dir)
    regions = list(lookup_regions) or sorted(stats["events_by_region"])
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


def _dealt_over(
    regions: tuple[str, ...], add_events: Callable[[Iterable[dict]], object]
) -> Callable[[Iterable[dict]], None]:
    """``add_events`` with each record moved to the next of ``regions`` in turn: the regions then hold
    the same number of events (within one) spread over the same days."""
    turn = itertools.cycle(regions)

    def add_dealt(records: Iterable[dict]) -> None:
        add_events([{**record, "awsRegion": next(turn)} for record in records])

    return add_dealt


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
    for earlier in Connector.objects.filter(name=name):
        delete_activities(earlier)
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


def delete_activities(connector: Connector) -> None:
    """The connector's activities and their alert links, in two statements: the ORM's delete() (and a
    connector's cascade) first fetches every id, minutes for the million an earlier benchmark left."""
    from alerts.models import Alert

    links = Alert.activities.field
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{links.m2m_db_table()}" WHERE "{links.m2m_reverse_name()}" IN '
            f'(SELECT "id" FROM "{Activity._meta.db_table}" WHERE "connector_id" = %s)',
            [connector.pk],
        )
        cursor.execute(f'DELETE FROM "{Activity._meta.db_table}" WHERE "connector_id" = %s', [connector.pk])


def reset_ingestion(connector: Connector) -> None:
    """Forget what was read so the same files are ingested again (scale-out runs)."""
    from alerts.models import Alert
    from policies.models import DetectorState

    Alert.objects.all().delete()
    DetectorState.objects.all().delete()
    delete_activities(connector)
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
    """``count`` worker processes (one task at a time each, as sized in production), on every queue,
    started side by side: each spends seconds of CPU setting Django up."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=count) as starter:
        starting = [
            starter.submit(
                start_worker,
                env or worker_env(),
                log_dir / f"worker-{index}.log",
                ",".join(QUEUES),
                pool="solo",
                name=f"bench{index}@%h",
                ready_seconds=WORKER_READY_SECONDS,
            )
            for index in range(count)
        ]
    processes = [future.result() for future in starting if future.exception() is None]
    try:
        for future in starting:
            if future.exception() is not None:
                raise future.exception()
        yield processes
    finally:
        stop_workers(processes, timeout=30)


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


# --- the trail files ---------------------------------------------------------------------------------


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
