from celery import shared_task

from defender.ipintel import services as ipintel
from defender.models import ThreatFeed


@shared_task(name="defender.refresh_threat_feed", acks_late=True)
def refresh_threat_feed_task(feed_id: int) -> None:
    ipintel.feed_refresh(feed_id=feed_id)


@shared_task(name="defender.refresh_threat_feeds")
def refresh_threat_feeds_task() -> None:
    """Beat, every 6 hours: one refresh per enabled feed that has a URL."""
    for pk in ThreatFeed.objects.filter(enabled=True).exclude(url="").values_list("pk", flat=True):
        refresh_threat_feed_task.delay(pk)
