"""The periodic schedule, kept in one place. django-celery-beat loads it into the database,
where administrators can change intervals in /admin/ without a deploy."""

import environ

env = environ.Env()

INGEST_POLL_SECONDS = env.int("INGEST_POLL_SECONDS", default=120)
# Minutes between syncs of the identity provider (Entra ID) into the directory.
IDENTITY_SYNC_MINUTES = env.int("IDENTITY_SYNC_MINUTES", default=15)

BEAT_SCHEDULE: dict[str, dict] = {
    "connectors-poll": {"task": "connectors.poll_all", "schedule": INGEST_POLL_SECONDS},
    "connectors-resend-detection": {"task": "connectors.resend_detection", "schedule": 60},
    "connectors-health-check": {"task": "connectors.health_check_all", "schedule": 15 * 60},
    "connectors-inventory": {"task": "connectors.inventory_refresh_all", "schedule": 60 * 60},
    "connectors-scan-buckets": {"task": "connectors.scan_buckets_all", "schedule": 60 * 60},
    "defender-refresh-threat-feeds": {"task": "defender.refresh_threat_feeds", "schedule": 6 * 60 * 60},
    "governance-requeue-stuck": {"task": "governance.requeue_stuck", "schedule": 5 * 60},
    "siem-export": {"task": "siem.export", "schedule": 30},
    "connectors-sync-identity-provider": {
        "task": "connectors.sync_identity_provider",
        "schedule": IDENTITY_SYNC_MINUTES * 60,
    },
}
