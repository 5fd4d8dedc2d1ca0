"""The periodic schedule, kept in one place. django-celery-beat loads it into the database,
where administrators can change intervals in /admin/ without a deploy."""

import environ

env = environ.Env()

INGEST_POLL_SECONDS = env.int("INGEST_POLL_SECONDS", default=120)

BEAT_SCHEDULE: dict[str, dict] = {
    "connectors-poll": {"task": "connectors.poll_all", "schedule": INGEST_POLL_SECONDS},
    "connectors-health-check": {"task": "connectors.health_check_all", "schedule": 15 * 60},
    "connectors-inventory": {"task": "connectors.inventory_refresh_all", "schedule": 60 * 60},
    "defender-refresh-threat-feeds": {"task": "defender.refresh_threat_feeds", "schedule": 6 * 60 * 60},
}
