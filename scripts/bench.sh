#!/usr/bin/env bash
# make bench: every bench/*.py on throwaway PostgreSQL and Redis; figures printed and kept as JSON
# under var/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
export BENCH_DIR="$PWD/var/bench"
mkdir -p "$BENCH_DIR"
"$PY" manage.py migrate --no-input -v0
shopt -s nullglob
for script in bench/[!_]*.py; do
  echo "== $script"
  "$PY" "$script"
done
