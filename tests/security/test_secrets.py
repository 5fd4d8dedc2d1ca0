"""Secrets at rest: every encrypted column is found by its field class and re-encrypted by
``rotate_encryption_key``; and the connector secret never appears in logs, pages, API answers,
exports or error reports."""

import logging
import sys
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.views.debug import technical_500_response

from connectors.ingestion.store import store_records
from connectors.models import Connector
from defender import crypto
from tests.cloudtrail import record
from tests.connectors.test_wizard import step, walk_to_credentials

pytestmark = pytest.mark.django_db


def stored_token(connector: Connector) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_access_key_encrypted FROM connectors_connector WHERE id = %s", [connector.pk]
        )
        return cursor.fetchone()[0]


def error_report(request) -> bytes:
    """The debug error page for a failure while ``request`` was handled (its frame holds no secret)."""
    try:
        raise RuntimeError("failure while handling the credentials")
    except RuntimeError:
        return technical_500_response(request, *sys.exc_info()).content


def test_encrypted_columns_are_found_by_their_field_class():
    found = {f"{model._meta.label}.{field.name}" for model, field in crypto.encrypted_fields()}
    assert "connectors.Connector.secret_access_key_encrypted" in found
    assert all(isinstance(field, crypto.EncryptedTextField) for _, field in crypto.encrypted_fields())


def test_rotation_re_encrypts_every_secret_with_the_newest_key(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = old
    connectors = []
    for name in ("Production", "Staging"):
        connector = Connector(name=name)
        connector.secret_access_key = f"secret-of-{name}"
        connector.save()
        connectors.append(connector)
    Connector.objects.create(name="Role based", auth_method=Connector.AuthMethod.ASSUME_ROLE)

    settings.FIELD_ENCRYPTION_KEY = f"{new}, {old}"
    out = StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "connectors.Connector.secret_access_key_encrypted: 2 re-encrypted" in out.getvalue()

    settings.FIELD_ENCRYPTION_KEY = new  # the old key can go now
    for connector in connectors:
        connector.refresh_from_db()
        assert connector.secret_access_key == f"secret-of-{connector.name}"
        Fernet(new.encode()).decrypt(stored_token(connector).encode())


def test_rotation_without_the_old_key_fails_and_changes_nothing(settings):
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    connector = Connector(name="Production")
    connector.secret_access_key = "secret"
    connector.save()
    before = stored_token(connector)
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(CommandError, match=r"connectors\.Connector\.secret_access_key_encrypted of row"):
        call_command("rotate_encryption_key", stdout=StringIO())
    assert stored_token(connector) == before


def test_secret_never_appears_in_logs_pages_api_exports_or_error_reports(
    aws, connector_user, client_for, admin, caplog
):
    caplog.set_level(logging.DEBUG)
    aws.enable_auth()
    secret = connector_user.credentials.secret_access_key
    client = client_for(admin)
    bodies: dict[str, bytes] = {}

    # Connect with the access-key CSV the emulator's IAM gives, as in the AWS console.
    walk_to_credentials(client)
    upload = SimpleUploadedFile("defender_accessKeys.csv", connector_user.csv("console"), "text/csv")
    bodies["credentials"] = client.post(
        step("credentials"), {"csv_file": upload, "all_regions": "on"}
    ).content
    bodies["history"] = client.post(
        step("history"), {"history_days": "7", "ingest_mode": "lookup_events"}
    ).content
    bodies["validate page"] = client.get(step("validate")).content
    bodies["connect"] = client.post(step("validate"), {"action": "connect"}, follow=True).content
    connector = Connector.objects.get(name="Production")
    assert connector.secret_access_key == secret  # the run above really stored it
    bodies["apps"] = client.get(reverse("connectors:apps")).content
    bodies["drawer"] = client.get(reverse("connectors:drawer", args=[connector.pk])).content
    bodies["edit credentials"] = client.get(
        reverse("connectors:wizard_edit", args=[connector.pk, "credentials"])
    ).content

    bodies["api list"] = client.get("/api/v1/connectors/").content
    bodies["api detail"] = client.get(f"/api/v1/connectors/{connector.pk}/").content

    store_records(connector=connector, records=[record("iam_user_api_call") for _ in range(3)], source="test")
    export = client.get(reverse("connectors:activity_export"))
    bodies["export"] = b"".join(export.streaming_content)
    assert bodies["export"].count(b"\n") == 4

    # A secret pasted into the wizard is starred out of the error report of that request.
    client.get(step("name") + "?restart=1")
    walk_to_credentials(client, name="Second")
    pasted = client.post(
        step("credentials"),
        {
            "access_key_id": connector_user.credentials.access_key_id,
            "secret_access_key": secret,
            "all_regions": "on",
        },
    )
    bodies["error report"] = error_report(pasted.wsgi_request)
    assert b"secret_access_key" in bodies["error report"]

    leaks = [name for name, body in bodies.items() if secret.encode() in body]
    assert not leaks, f"the secret appears in: {leaks}"
    assert caplog.records, "nothing was logged: the capture is not working"
    logged = [r for r in caplog.records if secret in r.getMessage() or secret in str(r.__dict__)]
    assert not logged, [r.getMessage() for r in logged]
