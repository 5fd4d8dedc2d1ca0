"""The machine the figures were measured on: CPU, cores, memory, Python and PostgreSQL versions."""

import os
import platform
from pathlib import Path

from _common import report
from django.db import connection


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def main() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    report(
        "machine",
        {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "memory_gb": memory_gb(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "postgresql": postgres,
        },
    )


if __name__ == "__main__":
    main()
