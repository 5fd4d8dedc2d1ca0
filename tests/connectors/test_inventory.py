import pytest
from django.urls import reverse

from connectors import inventory, services
from connectors.models import IamUser
from connectors.services import ConnectorSettings
from tests.aws_fixtures import aws_client
from tests.cloudtrail import record

pytestmark = pytest.mark.django_db


def test_inventory_reads_users_keys_mfa_console_and_email(
    aws, connector_user, admin, client_for, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    iam = aws_client("iam", aws.endpoint_url)
    iam.create_user(UserName="alice", Tags=[{"Key": "email", "Value": "alice@example.com"}])
    iam.create_login_profile(UserName="alice", Password="Sup3r-secret-pass!")
    iam.create_access_key(UserName="alice")
    with django_capture_on_commit_callbacks():
        connector = services.connector_save(
            config=ConnectorSettings(
                name="Production",
                access_key_id=connector_user.credentials.access_key_id,
                secret_access_key=connector_user.credentials.secret_access_key,
            ),
            by=admin,
        )
    aws.enable_auth()
    assert inventory.inventory_refresh(connector_id=connector.pk) == 2
    alice = IamUser.objects.get(user_name="alice")
    assert alice.console_access and not alice.mfa_enabled
    assert alice.email == "alice@example.com"
    assert alice.active_keys == 1
    robot = IamUser.objects.get(user_name="defender-connector")
    assert not robot.console_access

    aws.disable_auth()
    iam.delete_login_profile(UserName="alice")
    inventory.inventory_refresh(connector_id=connector.pk)
    assert not IamUser.objects.get(user_name="alice").console_access

    from connectors.ingestion.store import store_records

    event = record(
        userIdentity={
            "type": "IAMUser",
            "arn": alice.arn,
            "accountId": "123456789012",
            "userName": "alice",
            "principalId": "AIDA1",
        }
    )
    store_records(connector=connector, records=[event], source="test")
    client = client_for(admin)
    client.get("/")
    with django_assert_max_num_queries(10):
        page = client.get(reverse("connectors:accounts"))
    assert b"alice@example.com" in page.content
    assert b"defender-connector" in page.content
