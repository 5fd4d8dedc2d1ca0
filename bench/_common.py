"""Shared set-up for the benchmark scripts: Django on the benchmark database, figures out."""

import gzip
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "defender.settings")

import django  # noqa: E402
import orjson  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

# Measure the product, not Django's debug query log.
settings.DEBUG = False

BENCH_DIR = Path(os.environ.get("BENCH_DIR", ROOT / "var" / "bench"))


def timed(measured: Callable[[], int]) -> dict:
    """Rows, wall-clock seconds and CPU seconds (this process, the database) of one measured step."""
    client_before, database_before = cpu_seconds()
    started = time.perf_counter()
    rows = measured()
    seconds = time.perf_counter() - started
    client_after, database_after = cpu_seconds()
    client = client_after - client_before
    database = None if database_before is None else database_after - database_before
    return {
        "rows": rows,
        "seconds": seconds,
        "client_cpu": client,
        "database_cpu": database,
        "cpu": None if database is None else client + database,
    }


def raw_limits(
    bodies: Callable[[], Iterable[bytes]], file_count: int, connector_id: int, spool_dir: Path
) -> dict:
    """The floor any ingestion path pays on this machine in this run, measured two ways on the same
    gzipped trail files (``bodies()`` yields the ``file_count`` of them):

    - ``records``: gunzip + JSON parse + COPY of four values per record (id, time, name, the record as
      jsonb) into a bare table. Less than the product must store: it leaves out the 31 other columns
      of an activity (principal, resources, request_parameters as jsonb of their own, the enrichment).
    - ``rows``: gunzip + JSON parse + COPY of the same rows the product stored (connector_id's
      activities, every column, as COPY text prepared beforehand) into a bare table of the activity's
      columns: no index, no constraint, no id. The like-for-like limit, and still a strict one: it
      does no normalization, no enrichment, no row formatting and no duplicate check.
    """
    from django.db import connection

    from connectors.ingestion.store import COPY_COLUMNS

    spool = spool_dir / "raw_limit_rows.copy"
    with (
        connection.cursor() as cursor,
        spool.open("wb") as out,
        cursor.copy(
            f"COPY (SELECT {COPY_COLUMNS} FROM connectors_activity WHERE connector_id = {int(connector_id)}) "
            "TO STDOUT"
        ) as copy,
    ):
        for block in copy:
            out.write(block)

    def records() -> int:
        count = 0
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_raw")
            cursor.execute(
                "CREATE TABLE bench_raw (event_id text, event_time timestamptz, event_name text, raw jsonb)"
            )
            with cursor.copy("COPY bench_raw (event_id, event_time, event_name, raw) FROM STDIN") as copy:
                for body in bodies():
                    for record in orjson.loads(gzip.decompress(body))["Records"]:
                        copy.write_row(
                            (
                                record["eventID"],
                                record["eventTime"],
                                record["eventName"],
                                orjson.dumps(record).decode(),
                            )
                        )
                        count += 1
        return count

    def rows() -> int:
        block = -(-spool.stat().st_size // max(1, file_count))
        count = 0
        with connection.cursor() as cursor, spool.open("rb") as source:
            cursor.execute("DROP TABLE IF EXISTS bench_raw_rows")
            cursor.execute("CREATE TABLE bench_raw_rows AS SELECT * FROM connectors_activity WITH NO DATA")
            with cursor.copy(f"COPY bench_raw_rows ({COPY_COLUMNS}) FROM STDIN") as copy:
                # Parse a file, send its share of the rows: the two overlap as they would in a product.
                for body in bodies():
                    count += len(orjson.loads(gzip.decompress(body))["Records"])
                    copy.write(source.read(block))
                copy.write(source.read())
        return count

    try:
        return {"records": timed(records), "rows": timed(rows)}
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_raw")
            cursor.execute("DROP TABLE IF EXISTS bench_raw_rows")
        spool.unlink()


def compared(measured: dict, limits: dict) -> dict:
    """Figures of a measured ingestion against both raw limits: rates and ratios in wall-clock time and
    in CPU seconds (the steadier on a shared machine). The target applies to ``ratio_to_raw_limit``."""

    def rate(step: dict) -> float:
        return step["rows"] / step["seconds"]

    def cpu(step: dict) -> dict:
        return {
            "client": round(step["client_cpu"], 2),
            "database": step["database_cpu"] and round(step["database_cpu"], 2),
        }

    figures = {
        "events_per_second": round(rate(measured), 1),
        "raw_limit_events_per_second": round(rate(limits["rows"]), 1),
        "ratio_to_raw_limit": round(rate(measured) / rate(limits["rows"]), 3),
        "records_raw_limit_events_per_second": round(rate(limits["records"]), 1),
        "ratio_to_records_raw_limit": round(rate(measured) / rate(limits["records"]), 3),
        "cpu_seconds": cpu(measured),
        "raw_limit_cpu_seconds": cpu(limits["rows"]),
        "records_raw_limit_cpu_seconds": cpu(limits["records"]),
    }
    if measured["cpu"] and limits["rows"]["cpu"] and limits["records"]["cpu"]:
        # CPU seconds per event, the limit's over the measured one: the ratio with a core free per side.
        per_event = measured["cpu"] / measured["rows"]
        figures["cpu_ratio_to_raw_limit"] = round(
            limits["rows"]["cpu"] / limits["rows"]["rows"] / per_event, 3
        )
        figures["cpu_ratio_to_records_raw_limit"] = round(
            limits["records"]["cpu"] / limits["records"]["rows"] / per_event, 3
        )
    return figures


def cpu_seconds() -> tuple[float, float | None]:
    """CPU seconds used so far by this process (all its threads) and by the benchmark's PostgreSQL
    (every process of the cluster, exited backends included; None when it runs on another machine).
    On a shared machine wall-clock ratios move with the neighbours' load; CPU ratios much less."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    try:
        postmaster = _stat(backend)[1]
        database = sum(_stat(postmaster)[2:]) + sum(
            sum(stat[2:4]) for stat in map(_stat, _children(postmaster)) if stat is not None
        )
    except (OSError, TypeError):
        return time.process_time(), None
    return time.process_time(), database / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, ...] | None:
    """(pid, ppid, utime, stime, cutime, cstime) in clock ticks, None when the process has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (pid, int(fields[1]), *(int(value) for value in fields[11:15]))


def _children(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and stat[1] == parent:
            children.append(stat[0])
    return children


def _shown(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def report(name: str, figures: dict) -> None:
    """One line per figure on stdout; all of them as JSON in var/bench/<name>.json."""
    for key, value in figures.items():
        shown = (
            " ".join(f"{k}={_shown(v)}" for k, v in value.items())
            if isinstance(value, dict)
            else _shown(value)
        )
        print(f"{name}.{key} {shown}", flush=True)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
