"""Reads for the SIEM export settings page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from siem.models import SiemCursor, SiemDestination
from siem.streams import STREAMS

# Counting a large backlog exactly would scan it: above this the page says "10,000+".
PENDING_CAP = 10_000
# When a stream's oldest unsent row was written: how far behind the destination is.
WRITTEN_AT = {
    SiemCursor.Stream.ALERTS: "created_at",
    SiemCursor.Stream.ALERT_UPDATES: "created_at",
    SiemCursor.Stream.ACTIVITIES: "ingested_at",
}


@dataclass(frozen=True)
class Backlog:
    pending: int
    capped: bool
    oldest: datetime | None


def destination_backlog(destination: SiemDestination) -> Backlog:
    """Records of the destination's streams not sent yet, and when the oldest of them was written."""
    pending, capped, oldest = 0, False, None
    for cursor in destination.cursors.all():
        stream = STREAMS[cursor.stream]
        if not stream.enabled(destination):
            continue
        rows = stream.rows(destination).filter(pk__gt=cursor.position)
        count = rows.order_by().values("pk")[: PENDING_CAP + 1].count()
        capped = capped or count > PENDING_CAP
        pending += min(count, PENDING_CAP)
        if count:
            first = rows.order_by("pk").values_list(WRITTEN_AT[cursor.stream], flat=True).first()
            oldest = first if oldest is None or first < oldest else oldest
    return Backlog(pending=pending, capped=capped, oldest=oldest)


def destination_list() -> list[SiemDestination]:
    """Every destination, each with ``backlog`` (a ``Backlog``)."""
    destinations = list(SiemDestination.objects.prefetch_related("cursors"))
    for destination in destinations:
        destination.backlog = destination_backlog(destination)
    return destinations
