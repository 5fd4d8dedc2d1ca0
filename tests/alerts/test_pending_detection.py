"""Detection of stored activities is recorded as pending in the storing transaction, cleared by
detection, and sent again by the janitor when a worker died in between."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from alerts.tasks import detect_activities_task
from connectors.ingestion.store import detection_resend
from connectors.models import Connector, PendingDetection
from policies.models import Policy
from policies.services import policies_install_builtin
from tests.policies.activities import call, store

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector(db):
    return Connector.objects.create(name="Production", account_id="123456789012", status="connected")


def test_stored_activities_stay_pending_until_detection_has_raised_their_alerts(
    connector, django_capture_on_commit_callbacks
):
    policies_install_builtin()
    Policy.objects.exclude(template_key="aws_cloudtrail_config_changes").update(enabled=False)
    with django_capture_on_commit_callbacks() as sent:
        ids = store(connector, [call("StopLogging", "cloudtrail.amazonaws.com")])
    pending = PendingDetection.objects.get()
    assert pending.activity_ids == ids
    assert len(sent) == 1

    detect_activities_task.apply(args=[pending.activity_ids, pending.pk])

    assert Alert.objects.get().activities.count() == 1
    assert not PendingDetection.objects.exists()


def test_a_held_connector_records_nothing_pending(connector, django_capture_on_commit_callbacks):
    Connector.objects.filter(pk=connector.pk).update(detection_held=True)
    with django_capture_on_commit_callbacks() as sent:
        store(connector, [call("StopLogging", "cloudtrail.amazonaws.com")])
    assert sent == []
    assert not PendingDetection.objects.exists()


def test_the_janitor_sends_again_only_what_has_waited_too_long(django_capture_on_commit_callbacks):
    stale = PendingDetection.objects.create(activity_ids=[1, 2], sent_at=timezone.now() - timedelta(hours=1))
    recent = PendingDetection.objects.create(activity_ids=[3])

    with django_capture_on_commit_callbacks() as sent:
        assert detection_resend(older_than=timedelta(minutes=15)) == 1
    assert len(sent) == 1

    stale.refresh_from_db()
    recent_sent_at = PendingDetection.objects.get(pk=recent.pk).sent_at
    assert stale.sent_at > timezone.now() - timedelta(minutes=1)
    assert recent_sent_at == recent.sent_at
    with django_capture_on_commit_callbacks() as again:
        assert detection_resend(older_than=timedelta(minutes=15)) == 0
    assert again == []
