"""Alert tasks. Detection is registered here under the name ingestion sends, "policies.detect_activities"
(routed to the ``detect`` queue by ``policies.*``): the engine lives in policies and knows nothing of
alerts; this task turns its findings into alerts."""

from celery import shared_task
from django.db import OperationalError

from alerts import services


@shared_task(
    name="policies.detect_activities",
    acks_late=True,
    # A locked SQLite file or a PostgreSQL serialization failure: detection is safe to run again.
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=5,
)
def detect_activities_task(activity_ids: list[int]) -> None:
    services.detect_activities(activity_ids=activity_ids)
