"""SIEM export tasks (queue ``default``): beat runs ``siem.export`` every 30 seconds, which fans out
one ``siem.export_destination`` per enabled destination. Both are safe to run twice: a destination is
claimed by one run at a time and its cursors only move after a batch was delivered."""

from celery import shared_task

from siem import services
from siem.models import SiemDestination


@shared_task(name="siem.export", acks_late=True)
def export_all_task() -> None:
    for destination_id in SiemDestination.objects.filter(enabled=True).values_list("pk", flat=True):
        export_destination_task.delay(destination_id)


@shared_task(name="siem.export_destination", acks_late=True)
def export_destination_task(destination_id: int) -> None:
    services.destination_export(destination_id=destination_id)
