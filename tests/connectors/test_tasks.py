"""The health check as it really runs: beat's fan-out task, through the broker, in a worker process."""

import pytest

from connectors import services
from connectors.models import Connector
from connectors.services import ConnectorSettings
from connectors.tasks import connector_health_check_all_task
from tests.workers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.smoke]


def test_worker_runs_health_checks_and_records_an_error(aws, connector_user, admin, celery_worker):
    from tests.aws_fixtures import aws_client

    connector = services.connector_save(
        config=ConnectorSettings(
            name="Production",
            access_key_id=connector_user.credentials.access_key_id,
            secret_access_key=connector_user.credentials.secret_access_key,
        ),
        by=admin,
    )
    checked_at = connector.last_health_check
    connector_health_check_all_task.delay()
    wait_for(lambda: Connector.objects.get(pk=connector.pk).last_health_check != checked_at)
    assert Connector.objects.get(pk=connector.pk).status == Connector.Status.CONNECTED

    aws_client("iam", aws.endpoint_url).delete_access_key(
        UserName=connector_user.name, AccessKeyId=connector_user.credentials.access_key_id
    )
    aws.enable_auth()
    connector_health_check_all_task.delay()
    errored = wait_for(
        lambda: Connector.objects.filter(pk=connector.pk, status=Connector.Status.ERROR).first()
    )
    assert "does not recognise this access key ID" in errored.status_reason
    assert errored.events.filter(level="error").count() == 1
