import pytest
from django.db import connection

from connectors import services
from connectors.aws import AwsCredentials
from connectors.models import Connector, ConnectorEvent
from connectors.services import ConnectorSettings, ConnectorValidationError

pytestmark = pytest.mark.django_db


def settings_for(user, name="Production") -> ConnectorSettings:
    return ConnectorSettings(
        name=name,
        access_key_id=user.credentials.access_key_id,
        secret_access_key=user.credentials.secret_access_key,
    )


def test_connect_saves_a_connected_connector_with_the_secret_encrypted(aws, connector_user, admin):
    aws.enable_auth()
    connector = services.connector_save(config=settings_for(connector_user), by=admin)
    assert connector.status == Connector.Status.CONNECTED
    assert connector.account_id == "123456789012"
    assert connector.governance_enabled
    assert connector.secret_access_key == connector_user.credentials.secret_access_key
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM connectors_connector")
        raw_row = " ".join(str(value) for value in cursor.fetchone())
    assert connector_user.credentials.secret_access_key not in raw_row
    assert connector_user.credentials.access_key_id in raw_row
    assert ConnectorEvent.objects.filter(connector=connector, message__startswith="Connected").exists()


def test_bogus_key_saves_nothing(aws, seeded_account, admin):
    aws.enable_auth()
    bogus = ConnectorSettings(name="Bogus", access_key_id="AKIAZZZZZZZZZZZZZZZZ", secret_access_key="y" * 40)
    with pytest.raises(ConnectorValidationError) as error:
        services.connector_save(config=bogus, by=admin)
    assert error.value.report.checks[0].error_code == "InvalidClientTokenId"
    assert not Connector.objects.exists()


def test_health_check_turns_error_when_the_key_is_deleted_and_records_it(aws, connector_user, admin):
    from tests.aws_fixtures import aws_client

    connector = services.connector_save(config=settings_for(connector_user), by=admin)
    aws_client("iam", aws.endpoint_url).delete_access_key(
        UserName=connector_user.name, AccessKeyId=connector_user.credentials.access_key_id
    )
    aws.enable_auth()
    services.connector_health_check(connector_id=connector.pk)
    connector.refresh_from_db()
    assert connector.status == Connector.Status.ERROR
    assert "does not recognise this access key ID" in connector.status_reason
    event = connector.events.first()
    assert event.level == ConnectorEvent.Level.ERROR
    assert event.message.startswith("Health check failed")


def test_disabled_connector_is_not_checked(aws, connector_user, admin):
    connector = services.connector_save(config=settings_for(connector_user), by=admin)
    services.connector_set_enabled(connector=connector, enabled=False, by=admin)
    before = connector.last_health_check
    assert services.connector_health_check(connector_id=connector.pk) is None
    connector.refresh_from_db()
    assert connector.status == Connector.Status.DISABLED
    assert connector.last_health_check == before


def test_secret_never_appears_in_repr(aws, connector_user):
    credentials = AwsCredentials(**{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "s3cr3t"})
    assert "s3cr3t" not in repr(credentials)
    assert "s3cr3t" not in str(credentials)


def test_turning_to_error_raises_one_system_alert(
    aws, connector_user, admin, django_capture_on_commit_callbacks
):
    from alerts.models import Alert
    from alerts.services import alert_raise_for_connector_error
    from tests.aws_fixtures import aws_client

    with django_capture_on_commit_callbacks():
        connector = services.connector_save(config=settings_for(connector_user), by=admin)
    aws_client("iam", aws.endpoint_url).delete_access_key(
        UserName=connector_user.name, AccessKeyId=connector_user.credentials.access_key_id
    )
    aws.enable_auth()
    with django_capture_on_commit_callbacks() as callbacks:
        services.connector_health_check(connector_id=connector.pk)
        services.connector_health_check(connector_id=connector.pk)
    assert len(callbacks) == 1
    event = connector.events.get(level=ConnectorEvent.Level.ERROR)
    alert = alert_raise_for_connector_error(connector_event_id=event.pk)
    assert alert_raise_for_connector_error(connector_event_id=event.pk) == alert
    assert (alert.type, alert.severity, alert.connector) == ("system", "high", connector)
    assert "does not recognise this access key ID" in alert.description
    assert Alert.objects.count() == 1
