from datetime import timedelta

from celery import shared_task
from django.conf import settings

from connectors import aws, buckets, entra_sync, inventory, services
from connectors.entra import GraphError
from connectors.ingestion.errors import TransientAwsError
from connectors.ingestion.lookup_events import ingest_region
from connectors.ingestion.s3_trail import ingest_trail_region
from connectors.ingestion.store import detection_resend
from connectors.models import Connector


@shared_task(name="connectors.health_check", acks_late=True)
def connector_health_check_task(connector_id: int) -> None:
    services.connector_health_check(connector_id=connector_id)


@shared_task(name="connectors.health_check_all")
def connector_health_check_all_task() -> None:
    """Beat: fan out one health check per enabled connector."""
    for pk in Connector.objects.exclude(status=Connector.Status.DISABLED).values_list("pk", flat=True):
        connector_health_check_task.delay(pk)


@shared_task(
    name="connectors.ingest_region",
    acks_late=True,
    autoretry_for=(TransientAwsError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
)
def ingest_region_task(connector_id: int, region: str) -> None:
    mode = Connector.objects.filter(pk=connector_id).values_list("ingest_mode", flat=True).first()
    if mode == Connector.IngestMode.S3_TRAIL:
        ingest_trail_region(connector_id=connector_id, region=region)
    else:
        ingest_region(connector_id=connector_id, region=region)


@shared_task(name="connectors.resend_detection")
def detection_resend_task() -> None:
    """Beat: send again the detections a dead worker left pending (``DETECTION_RESEND_SECONDS``)."""
    detection_resend(older_than=timedelta(seconds=settings.DETECTION_RESEND_SECONDS))


@shared_task(name="connectors.poll_connector")
def poll_connector_task(connector_id: int) -> None:
    """Fan out one ingestion task per region of one connector."""
    connector = Connector.objects.filter(pk=connector_id, status=Connector.Status.CONNECTED).first()
    if connector is None:
        return
    for region in connector.regions or aws.available_regions():
        ingest_region_task.delay(connector.pk, region)


@shared_task(name="connectors.poll_all")
def poll_all_task() -> None:
    """Beat, every INGEST_POLL_SECONDS: read new activity of every connected account."""
    for pk in Connector.objects.filter(status=Connector.Status.CONNECTED).values_list("pk", flat=True):
        poll_connector_task.delay(pk)


@shared_task(name="connectors.inventory_refresh", acks_late=True)
def inventory_refresh_task(connector_id: int) -> None:
    inventory.inventory_refresh(connector_id=connector_id)


@shared_task(name="connectors.inventory_refresh_all")
def inventory_refresh_all_task() -> None:
    """Beat: re-read the IAM users of every connected account."""
    for pk in Connector.objects.filter(status=Connector.Status.CONNECTED).values_list("pk", flat=True):
        inventory_refresh_task.delay(pk)


@shared_task(
    name="connectors.scan_buckets",
    acks_late=True,
    autoretry_for=(TransientAwsError,),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=6,
)
def buckets_scan_task(connector_id: int) -> None:
    buckets.buckets_scan(connector_id=connector_id)


@shared_task(name="connectors.scan_buckets_all")
def buckets_scan_all_task() -> None:
    """Beat, hourly: re-read the S3 buckets of every connected account."""
    for pk in Connector.objects.filter(status=Connector.Status.CONNECTED).values_list("pk", flat=True):
        buckets_scan_task.delay(pk)


@shared_task(name="connectors.sync_identity_provider", bind=True, acks_late=True, max_retries=5)
def identity_provider_sync_task(self) -> None:
    """Beat, every IDENTITY_SYNC_MINUTES, and "Sync now": the directory from Entra ID. Throttling,
    5xx and network failures retry with backoff; the others are recorded on the connection."""
    try:
        entra_sync.identity_provider_sync()
    except GraphError as error:
        if error.transient:
            raise self.retry(exc=error, countdown=min(600, 30 * 2**self.request.retries)) from error
