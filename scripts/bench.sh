#!/usr/bin/env bash
# make bench: the benchmarks on throwaway PostgreSQL and Redis with real worker processes; every figure
# printed on one line and kept as JSON under var/bench/ (worker logs in var/bench/logs/).
# Sizes: BENCH_EVENTS, BENCH_SCALEOUT_EVENTS, BENCH_DETECT_EVENTS, BENCH_BACKFILL_EVENTS,
# BENCH_LATENCY_SAMPLES, BENCH_ACTIVITIES, BENCH_ALERTS, BENCH_PAGE_REQUESTS (see each bench/*.py).
# BENCH_ONLY="e2e pages" runs some of them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
export BENCH_DIR="$PWD/var/bench"
mkdir -p "$BENCH_DIR"
"$PY" manage.py migrate --no-input -v0 --skip-checks
# Cheapest first; pages last, as it leaves 5,000,000 activities behind.
elapsed() { echo "$(( (SECONDS - $1) / 60 )) min $(( (SECONDS - $1) % 60 )) s"; }
for name in ${BENCH_ONLY:-machine ingest detect e2e scaleout backfill latency pages}; do
  echo "== bench/$name.py"
  bench_started=$SECONDS
  "$PY" "bench/$name.py"
  echo "== bench/$name.py took $(elapsed $bench_started)"
done
# From the script's start (SECONDS counts from there): services and migrations included.
echo "== make bench took $(elapsed 0)"
