"""The periodic schedule, kept in one place. django-celery-beat loads it into the database,
where administrators can change intervals in /admin/ without a deploy."""

BEAT_SCHEDULE: dict[str, dict] = {
    "connectors-health-check": {
        "task": "connectors.health_check_all",
        "schedule": 15 * 60,
    },
}
