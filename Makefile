# Every target uses the virtual environment in .venv/ and is safe to run again.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test run lint bench soak setup assets migrate clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static/vendor/icons.svg: node_modules/.installed scripts/build_assets.py $(shell find templates -name '*.html') defender/navigation.py
	$(PY) scripts/build_assets.py

setup: $(VENV)/.installed assets

assets: $(VENV)/.installed static/vendor/icons.svg

migrate: setup
	$(PY) manage.py migrate --no-input

## make demo: the product on the embedded default (SQLite, filesystem broker) at http://127.0.0.1:8000/
demo: migrate
	$(PY) manage.py demo

## make test: installs what it needs, starts throwaway PostgreSQL and Redis, runs the whole suite
test: setup
	bash scripts/test.sh

## make run: production-style processes (gunicorn, worker, beat) configured by the environment
run: setup
	DEBUG=$${DEBUG:-False} bash scripts/run.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## make bench: benchmarks on throwaway PostgreSQL and Redis; figures printed and saved in var/bench/
bench: setup
	bash scripts/bench.sh

## make soak: tests/load at a bigger size (LOAD_REQUESTS, LOAD_CONCURRENCY, LOAD_EVENTS...): zero errors, no lost events
soak: setup
	bash scripts/soak.sh

clean:
	rm -rf $(VENV) node_modules static/vendor staticfiles
