#!/usr/bin/env bash
# make soak: the load test of tests/load at a bigger size, on throwaway PostgreSQL and Redis: gunicorn
# (DEBUG off, collected static files) answering thousands of concurrent page and API requests while
# Celery workers ingest trail files. Fails on any unexpected status, 5xx, connection error or lost
# or duplicated event; prints the request rate and p95. Every size can be set from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
export DJANGO_ALLOW_ASYNC_UNSAFE=true
export LOAD_REQUESTS="${LOAD_REQUESTS:-5000}"
export LOAD_CONCURRENCY="${LOAD_CONCURRENCY:-300}"
export LOAD_EVENTS="${LOAD_EVENTS:-20000}"
export LOAD_TRAIL_FILES="${LOAD_TRAIL_FILES:-100}"
export LOAD_INGEST_TIMEOUT="${LOAD_INGEST_TIMEOUT:-900}"
started=$SECONDS
"$PY" -m pytest -p no:cacheprovider tests/load "$@"
echo "== make soak took $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
