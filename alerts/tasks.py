"""Alert tasks. Detection is registered here under the names that ingestion and the bucket inventory
send, "policies.detect_activities", "policies.detect_history" and "policies.detect_buckets" (routed to
the ``detect`` queue by ``policies.*``): the engine lives in policies and knows nothing of alerts;
these tasks turn its findings into alerts."""

from celery import shared_task
from django.db import OperationalError

from alerts import notifications, services
from alerts.models import Alert


@shared_task(
    name="policies.detect_activities",
    acks_late=True,
    # A locked SQLite file or a PostgreSQL serialization failure: detection is safe to run again.
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=5,
)
def detect_activities_task(activity_ids: list[int], pending_id: int | None = None) -> None:
    services.detect_activities(activity_ids=activity_ids, pending_id=pending_id)


@shared_task(
    name="policies.detect_history",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=5,
)
def detect_history_task(connector_id: int, upto_id: int | None = None, after: list | None = None) -> None:
    """One step of a new connector's history walk, oldest first (sent by name from
    ``connectors.ingestion.history``); it queues the next step itself, so steps run one after another."""
    following = services.detect_history_step(connector_id=connector_id, upto_id=upto_id, after=after)
    if following is not None:
        detect_history_task.delay(connector_id, *following)


@shared_task(
    name="policies.detect_buckets",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=5,
)
def detect_buckets_task(bucket_ids: list[int]) -> None:
    """The file policies over buckets the inventory scan has just stored (sent by name from
    ``connectors.buckets``)."""
    services.detect_buckets(bucket_ids=bucket_ids)


@shared_task(
    name="alerts.notify_email", acks_late=True, autoretry_for=(OSError,), retry_backoff=10, max_retries=6
)
def notify_email_task(alert_id: int) -> None:
    alert = Alert.objects.select_related("policy").filter(pk=alert_id).first()
    if alert is not None:
        notifications.notify_email(alert)


@shared_task(
    name="alerts.notify_webhook",
    acks_late=True,
    autoretry_for=(notifications.WebhookFailed,),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=8,
)
def notify_webhook_task(alert_id: int) -> None:
    alert = Alert.objects.select_related("policy").filter(pk=alert_id).first()
    if alert is not None:
        notifications.notify_webhook(alert)


@shared_task(name="alerts.connector_error", acks_late=True)
def connector_error_task(connector_id: int, connector_event_id: int) -> None:
    services.alert_raise_for_connector_error(connector_event_id=connector_event_id)
