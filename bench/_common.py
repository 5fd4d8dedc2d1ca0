"""Shared set-up for the benchmark scripts: Django on the benchmark database, figures out."""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "defender.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

# Measure the product, not Django's debug query log.
settings.DEBUG = False

BENCH_DIR = Path(os.environ.get("BENCH_DIR", ROOT / "var" / "bench"))


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
