#!/usr/bin/env bash
# Production-style processes on one machine: gunicorn, one Celery worker per queue group, beat.
# On several machines run the same commands, each machine its share, against one DATABASE_URL and REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY manage.py migrate --no-input
$PY manage.py collectstatic --no-input --verbosity 0
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
.venv/bin/gunicorn defender.wsgi --bind "${BIND:-127.0.0.1:8000}" --workers "${WEB_CONCURRENCY:-3}" --threads "${WEB_THREADS:-4}" --access-logfile - &
pids+=($!)
$PY -m celery -A defender worker -Q ingest,detect,governance,default --concurrency "${WORKER_CONCURRENCY:-2}" --loglevel INFO &
pids+=($!)
$PY -m celery -A defender beat --loglevel INFO &
pids+=($!)
wait -n
