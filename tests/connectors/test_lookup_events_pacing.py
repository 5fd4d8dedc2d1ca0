"""LookupEvents pacing: each region read at AWS's rate of 2 requests per second, never throttled."""

import time

import pytest

from connectors import services
from connectors.ingestion.lookup_events import Pacer, ingest_region
from connectors.services import ConnectorSettings
from localaws.emulator import Throttle
from tests.cloudtrail import series

REGION = ("123456789012", "us-east-1")
SERVICE_DELAY = 0.15


def test_requests_the_service_counts_late_or_early_are_never_throttled():
    """The service counts a request at some moment between its sending and its answer: here the
    first two of every four at the end (a slow hop before the count), the next two at the start. A
    pacer that only spaced its sends would have the third counted less than a second after the first."""
    throttle = Throttle(limit=2, window=1.0)
    pacer = Pacer(per_second=2)
    for index in range(6):
        counted_late = index % 4 < 2
        with pacer.request():
            if counted_late:
                time.sleep(SERVICE_DELAY)
            assert throttle.allow(REGION), f"request {index} was throttled"
            if not counted_late:
                time.sleep(SERVICE_DELAY)
    assert throttle.throttled == 0


def test_a_fractional_rate_spaces_single_requests():
    pacer = Pacer(per_second=0.5)
    assert (pacer.limit, pacer.window) == (1, 2.0)


@pytest.mark.django_db
def test_a_backfill_at_aws_rate_reads_every_page_without_a_throttled_request(
    aws, connector_user, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        connector = services.connector_save(
            config=ConnectorSettings(
                name="Production",
                access_key_id=connector_user.credentials.access_key_id,
                secret_access_key=connector_user.credentials.secret_access_key,
                regions=("eu-west-1",),
            ),
            by=admin,
        )
    # eu-west-1: the connection check's own LookupEvents call, in us-east-1, is not the pacer's to know.
    aws.store.add(series(260, region="eu-west-1"))
    result = ingest_region(connector_id=connector.pk, region="eu-west-1")
    assert result.inserted == 260
    assert aws.throttle.throttled == 0
