"""Ingestion hands new activities to detection by task name; a real worker raises the alerts."""

import pytest

from alerts.models import Alert
from connectors.models import Connector
from policies.models import Policy
from policies.services import policies_install_builtin
from tests.policies.activities import call, store
from tests.workers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.smoke]


def test_stored_activity_is_detected_by_the_worker(celery_worker):
    policies_install_builtin()
    Policy.objects.exclude(template_key="aws_cloudtrail_config_changes").update(enabled=False)
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    store(
        connector,
        [
            call("StopLogging", "cloudtrail.amazonaws.com"),
            call("ListTrails", "cloudtrail.amazonaws.com", read_only=True),
        ],
    )
    alert = wait_for(lambda: Alert.objects.first())
    assert alert.title == "CloudTrail configuration changes: StopLogging by alice"
    assert alert.connector_id == connector.pk
    assert alert.activities.count() == 1
