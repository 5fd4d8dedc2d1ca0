from celery import shared_task

from connectors import services
from connectors.models import Connector


@shared_task(name="connectors.health_check", queue="default", acks_late=True)
def connector_health_check_task(connector_id: int) -> None:
    services.connector_health_check(connector_id=connector_id)


@shared_task(name="connectors.health_check_all", queue="default")
def connector_health_check_all_task() -> None:
    """Beat: fan out one health check per enabled connector."""
    for pk in Connector.objects.exclude(status=Connector.Status.DISABLED).values_list("pk", flat=True):
        connector_health_check_task.delay(pk)
