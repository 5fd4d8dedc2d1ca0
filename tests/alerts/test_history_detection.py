"""A new LookupEvents connector's history (read newest first) is detected oldest first, once every
region's first import is done, so detectors learn from its beginning and judge what follows."""

from datetime import UTC, datetime, timedelta

import pytest

from alerts import services
from alerts.models import Alert
from connectors import services as connector_services
from connectors.ingestion.lookup_events import ingest_region
from connectors.models import Connector
from connectors.services import ConnectorSettings
from policies.models import Policy
from policies.services import policies_install_builtin
from tests.cloudtrail import record
from tests.policies.activities import console_login

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def connector(aws, connector_user, admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        return connector_services.connector_save(
            config=ConnectorSettings(
                name="Production",
                access_key_id=connector_user.credentials.access_key_id,
                secret_access_key=connector_user.credentials.secret_access_key,
                regions=("us-east-1", "eu-west-1"),
                history_days=Connector.HistoryDays.MONTH,
            ),
            by=admin,
        )


def failed_sign_ins(count: int) -> list[dict]:
    burst = []
    for second in range(0, 20 * count, 20):
        event = console_login(at=NOW - timedelta(hours=1) + timedelta(seconds=second), user="hyunwoo.lee")
        event["awsRegion"] = "us-east-1"
        burst.append(event)
    return burst


def walk_history(connector_id: int) -> None:
    step = services.detect_history_step(connector_id=connector_id)
    while step is not None:
        upto_id, after = step
        step = services.detect_history_step(connector_id=connector_id, upto_id=upto_id, after=after)


def test_history_is_held_until_every_region_is_read_then_detected_oldest_first(
    aws, connector, django_capture_on_commit_callbacks, monkeypatch
):
    policies_install_builtin()
    Policy.objects.exclude(template_key="anomaly_multiple_failed_logins").update(enabled=False)
    # Nine days ago the account's history begins (the detector's learning period starts there);
    # an hour ago a burst of failed sign-ins, in the other region.
    aws.store.add([record(at=NOW - timedelta(days=9), region="eu-west-1"), *failed_sign_ins(14)])
    aws.enable_auth()
    assert connector.detection_held

    with django_capture_on_commit_callbacks() as first_region:
        ingest_region(connector_id=connector.pk, region="us-east-1")
    assert first_region == [], "nothing goes to detection while the history is read"
    connector.refresh_from_db()
    assert connector.detection_held

    with django_capture_on_commit_callbacks() as last_region:
        ingest_region(connector_id=connector.pk, region="eu-west-1")
    assert len(last_region) == 1, "only the walk of the history is queued"
    connector.refresh_from_db()
    assert not connector.detection_held
    assert connector.events_ingested == 15

    monkeypatch.setattr(services, "HISTORY_STEP", 4)  # several steps, as a big history takes
    walk_history(connector.pk)

    alert = Alert.objects.get()
    assert alert.policy.template_key == "anomaly_multiple_failed_logins"
    assert alert.principal.endswith("user/hyunwoo.lee")
    assert alert.activity_count >= 7  # from the sign-in that crossed the threshold on

    aws.store.add([record(at=datetime.now(UTC), region="us-east-1", event_id="after-the-history")])
    with django_capture_on_commit_callbacks() as later:
        ingest_region(connector_id=connector.pk, region="us-east-1")
    assert len(later) == 1, "activities stored after the history go to detection as usual"


def test_the_same_history_detected_newest_first_looks_like_learning(aws, connector):
    """Why the history is held: detected in the order LookupEvents returns it, the burst comes before
    the start of the history, inside the learning period, and nothing is raised."""
    policies_install_builtin()
    Policy.objects.exclude(template_key="anomaly_multiple_failed_logins").update(enabled=False)
    Connector.objects.filter(pk=connector.pk).update(detection_held=False)
    aws.store.add([record(at=NOW - timedelta(days=9), region="eu-west-1"), *failed_sign_ins(14)])
    aws.enable_auth()
    for region in ("us-east-1", "eu-west-1"):  # each page detected as it is stored, as before
        page = ingest_region(connector_id=connector.pk, region=region).new_ids
        for start in range(0, len(page), 4):
            services.detect_activities(activity_ids=page[start : start + 4])
    assert not Alert.objects.exists()
