import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from connectors.models import Connector

pytestmark = pytest.mark.django_db


def step(name: str) -> str:
    return reverse("connectors:wizard", args=[name])


def walk_to_credentials(client, name="Production", method="access_keys"):
    client.get(step("name") + "?restart=1")
    assert client.post(step("name"), {"name": name}).status_code == 302
    assert (
        client.post(
            step("method"), {"connection_type": "security_auditing", "auth_method": method}
        ).status_code
        == 302
    )


def test_wizard_with_csv_upload_connects(aws, connector_user, client_for, admin):
    aws.enable_auth()
    client = client_for(admin)
    walk_to_credentials(client)
    upload = SimpleUploadedFile("defender_accessKeys.csv", connector_user.csv("console"), "text/csv")
    response = client.post(step("credentials"), {"csv_file": upload, "all_regions": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert (
        client.post(step("history"), {"history_days": "30", "ingest_mode": "lookup_events"}).status_code
        == 302
    )
    response = client.post(step("validate"), {"action": "connect"})
    connector = Connector.objects.get(name="Production")
    assert response.status_code == 302
    assert response["Location"] == reverse("connectors:connected", args=[connector.pk])
    assert connector.status == Connector.Status.CONNECTED
    assert connector.history_days == 30
    assert connector.access_key_id == connector_user.credentials.access_key_id


def test_wizard_bogus_key_is_refused_by_its_field_and_saves_nothing(aws, seeded_account, client_for, admin):
    aws.enable_auth()
    client = client_for(admin)
    walk_to_credentials(client)
    response = client.post(
        step("credentials"),
        {"access_key_id": "AKIAZZZZZZZZZZZZZZZZ", "secret_access_key": "q" * 40, "all_regions": "on"},
    )
    assert response.status_code == 200
    assert b'id="id_access_key_id_error"' in response.content
    assert b"does not recognise this access key ID" in response.content
    assert b"InvalidClientTokenId" in response.content
    assert client.get(step("history"))["Location"] == step("credentials")
    assert not Connector.objects.exists()


def test_wizard_wrong_secret_is_shown_by_the_secret(aws, connector_user, client_for, admin):
    aws.enable_auth()
    client = client_for(admin)
    walk_to_credentials(client)
    response = client.post(
        step("credentials"),
        {
            "access_key_id": connector_user.credentials.access_key_id,
            "secret_access_key": "w" * 40,
            "all_regions": "on",
        },
    )
    assert b'id="id_secret_access_key_error"' in response.content
    assert b"secret access key does not belong" in response.content


def test_wizard_missing_permission_is_shown_in_validation(
    aws, make_iam_user, seeded_account, client_for, admin
):
    from connectors.iam_policies import GOVERNANCE_ACTIONS

    user = make_iam_user("no-iam", [a for a in GOVERNANCE_ACTIONS if not a.startswith("iam:List")])
    aws.enable_auth()
    client = client_for(admin)
    walk_to_credentials(client)
    client.post(
        step("credentials"),
        {
            "access_key_id": user.credentials.access_key_id,
            "secret_access_key": user.credentials.secret_access_key,
            "all_regions": "on",
        },
    )
    client.post(step("history"), {"history_days": "7", "ingest_mode": "lookup_events"})
    response = client.post(step("validate"), {"action": "connect"})
    assert b"Missing permission iam:ListUsers" in response.content
    assert not Connector.objects.exists()


def test_malformed_csv_is_a_form_error(aws, client_for, admin):
    client = client_for(admin)
    walk_to_credentials(client)
    upload = SimpleUploadedFile("keys.csv", b"name,email\nbob,bob@example.com\n", "text/csv")
    response = client.post(step("credentials"), {"csv_file": upload, "all_regions": "on"})
    assert response.status_code == 200
    assert b"no &#x27;Access key ID&#x27; and &#x27;Secret access key&#x27; columns" in response.content


def test_back_keeps_what_was_typed_but_never_echoes_the_secret(aws, client_for, admin):
    client = client_for(admin)
    walk_to_credentials(client, name="Keep me")
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    client.post(
        step("credentials"),
        {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": secret, "all_regions": "on"},
    )
    assert b'value="Keep me"' in client.get(step("name")).content
    page = client.get(step("credentials")).content
    assert b"AKIAIOSFODNN7EXAMPLE" in page
    assert secret.encode() not in page
    assert b"A secret was entered earlier and is kept" in page
    assert secret not in str(dict(client.session))


def test_skipping_ahead_goes_back_to_the_first_missing_step(client_for, admin):
    client = client_for(admin)
    client.get(step("name") + "?restart=1")
    response = client.get(step("validate"))
    assert response["Location"] == step("name")


def test_duplicate_instance_name_is_refused(client_for, admin):
    Connector.objects.create(name="Production")
    response = client_for(admin).post(step("name"), {"name": "production"})
    assert b"Another connected app already has this name." in response.content


@pytest.mark.parametrize("role", ["operator", "reader"])
def test_only_admins_connect_and_change(request, client_for, role):
    client = client_for(request.getfixturevalue(role))
    connector = Connector.objects.create(name="Production")
    assert client.get(reverse("connectors:connect")).status_code == 403
    assert client.get(step("name")).status_code == 403
    assert (
        client.post(reverse("connectors:set_enabled", args=[connector.pk]), {"enabled": "0"}).status_code
        == 403
    )
    assert client.post(reverse("connectors:delete", args=[connector.pk])).status_code == 403
    assert client.post(reverse("connectors:sync", args=[connector.pk])).status_code == 403
    page = client.get(reverse("connectors:apps"))
    assert page.status_code == 200
    assert b"Production" in page.content
    assert b"Connect an app" not in page.content
    assert client.get(reverse("connectors:drawer", args=[connector.pk])).status_code == 200
    connector.refresh_from_db()
    assert connector.status == Connector.Status.PENDING


def test_admin_disables_enables_and_deletes(client_for, admin, django_capture_on_commit_callbacks):
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    client = client_for(admin)
    client.post(reverse("connectors:set_enabled", args=[connector.pk]), {"enabled": "0"})
    connector.refresh_from_db()
    assert connector.status == Connector.Status.DISABLED
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(reverse("connectors:set_enabled", args=[connector.pk]), {"enabled": "1"})
    connector.refresh_from_db()
    assert connector.status == Connector.Status.PENDING
    assert len(callbacks) == 1
    client.post(reverse("connectors:delete", args=[connector.pk]))
    assert not Connector.objects.exists()


def test_trail_file_mode_needs_a_bucket_and_is_saved(aws, connector_user, client_for, admin):
    client = client_for(admin)
    walk_to_credentials(client)
    client.post(
        step("credentials"),
        {
            "access_key_id": connector_user.credentials.access_key_id,
            "secret_access_key": connector_user.credentials.secret_access_key,
            "all_regions": "on",
        },
    )
    response = client.post(step("history"), {"history_days": "7", "ingest_mode": "s3_trail"})
    assert b"Name the S3 bucket the trail delivers its log files to." in response.content
    client.post(
        step("history"),
        {
            "history_days": "7",
            "ingest_mode": "s3_trail",
            "trail_bucket": "defender-trail-logs",
            "trail_prefix": "org",
        },
    )
    client.post(step("validate"), {"action": "connect"})
    connector = Connector.objects.get()
    assert (connector.ingest_mode, connector.trail_bucket, connector.trail_prefix) == (
        "s3_trail",
        "defender-trail-logs",
        "org",
    )


def test_a_draft_saved_by_an_earlier_release_starts_the_wizard_again(client_for, admin, reader):
    client = client_for(admin)
    session = client.session
    session["aws-wizard:new"] = {"name": "Old flat draft", "auth_method": "access_keys", "history_days": 7}
    session.save()
    response = client.get(step("history"))
    assert response.status_code == 302 and response["Location"] == step("name")
    page = client.get(step("name"))
    assert page.status_code == 200 and b"Old flat draft" not in page.content
    assert client_for(reader).get(step("name")).status_code == 403
