#!/usr/bin/env bash
# make test: the whole suite on throwaway PostgreSQL and Redis, then a smoke run on the embedded
# default (SQLite + filesystem broker). See scripts/services.sh for what is installed and started.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
source scripts/services.sh

export DJANGO_ALLOW_ASYNC_UNSAFE=true
"$PY" -m pytest "$@"

echo "Smoke run on the embedded default (SQLite, filesystem broker)"
env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL VAR_DIR="$work/embedded" \
  "$PY" -m pytest -m smoke -p no:cacheprovider "$@"
