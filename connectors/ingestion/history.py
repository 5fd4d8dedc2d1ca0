"""A new connector's history is detected oldest first.

LookupEvents answers newest first, region by region. Detectors build baselines and count their
learning period from the first activity they see, so history fed to them newest first would make
every attack look like the start of learning. A new LookupEvents connector therefore starts with
``detection_held``: its stored activities are not sent to detection until every region's first
import is done; then one task walks the whole history in time order (``policies.detect_history``),
and activities stored from then on are sent as usual.

No batch is lost between the two: storing updates the connector row (its counters) and reads
``detection_held`` in the same transaction, and the release is an update of that row, so it waits for
every batch that read "held" to commit, and the walk, sent after the release commits, covers them.
"""

from celery import current_app
from django.db import transaction
from django.db.models import Q

from connectors import aws
from connectors.models import Connector, IngestCheckpoint

DETECT_HISTORY_TASK = "policies.detect_history"


def detection_release(*, connector_id: int) -> bool:
    """Release a held connector's detection once every region's first import is over (done, or the
    region is not enabled), and queue the walk of its history. True if this call released it."""
    connector = Connector.objects.filter(pk=connector_id, detection_held=True).first()
    if connector is None:
        return False
    regions = set(connector.regions or aws.available_regions())
    finished = set(
        IngestCheckpoint.objects.filter(connector=connector, region__in=regions)
        .filter(Q(backfill_done=True) | Q(region_disabled_until__isnull=False))
        .values_list("region", flat=True)
    )
    if finished != regions:
        return False
    with transaction.atomic():
        released = Connector.objects.filter(pk=connector_id, detection_held=True).update(detection_held=False)
        if released:
            transaction.on_commit(lambda: current_app.send_task(DETECT_HISTORY_TASK, args=[connector_id]))
    return bool(released)
