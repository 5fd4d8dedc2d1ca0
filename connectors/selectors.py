from django.db.models import QuerySet

from connectors.models import Connector

CONNECTOR_SORTS = {
    "name",
    "-name",
    "status",
    "-status",
    "last_activity_at",
    "-last_activity_at",
    "last_health_check",
    "-last_health_check",
    "events_ingested",
    "-events_ingested",
}


def connector_list(*, sort: str = "name") -> QuerySet[Connector]:
    return Connector.objects.order_by(sort if sort in CONNECTOR_SORTS else "name", "pk")
