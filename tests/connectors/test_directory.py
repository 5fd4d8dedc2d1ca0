from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from connectors import directory
from connectors.models import Connector, DirectoryUser, IamUser

pytestmark = pytest.mark.django_db

CSV = (
    "email,display name,status,terminated at\n"
    "Alice@Example.com,Alice Kim,active,\n"
    "eunji.han@example.com,Eunji Han,terminated,2026-11-27T17:00:00Z\n"
    "not-an-email,Bob,active,\n"
    "carol@example.com,Carol,fired,\n"
)


def test_csv_import_reports_bad_lines_and_keeps_good_ones():
    result = directory.directory_import_csv(data=CSV.encode())
    assert (result.created, result.updated) == (2, 0)
    assert result.errors[0].startswith("Line 4:")
    assert "status 'fired'" in result.errors[1]
    eunji = DirectoryUser.objects.get(email="eunji.han@example.com")
    assert eunji.status == "terminated" and eunji.terminated_at == datetime(2026, 11, 27, 17, tzinfo=UTC)
    again = directory.directory_import_csv(data=CSV.encode())
    assert (again.created, again.updated) == (0, 2)


def test_snapshot_maps_principals_by_mapping_session_email_and_iam_tag(admin):
    directory.directory_import_csv(data=CSV.encode())
    connector = Connector.objects.create(name="Prod")
    IamUser.objects.create(
        connector=connector, user_name="eunji", arn="arn:aws:iam::1:user/eunji", email="eunji.han@example.com"
    )
    directory.principal_mapping_save(principal="arn:aws:iam::1:user/ci", email="alice@example.com", by=admin)
    snapshot = directory.directory_snapshot()
    assert directory.owner_of("arn:aws:iam::1:user/eunji", "eunji", snapshot).terminated_at is not None
    assert directory.owner_of("arn:aws:iam::1:user/ci", "ci", snapshot).email == "alice@example.com"
    sso = "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin/alice@example.com"
    assert directory.owner_of(sso, "Alice@Example.com", snapshot).display_name == "Alice Kim"
    assert directory.owner_of("arn:aws:iam::1:user/nobody", "nobody", snapshot) is None


def test_page_and_writes_by_role(client_for, admin, operator, reader):
    upload = SimpleUploadedFile("people.csv", CSV.encode(), "text/csv")
    response = client_for(admin).post(reverse("connectors:directory_import"), {"file": upload}, follow=True)
    assert b"Imported 2 new and 0 updated users." in response.content
    assert b"Line 4:" in response.content
    eunji = DirectoryUser.objects.get(email="eunji.han@example.com")
    for user in (operator, reader):
        client = client_for(user)
        assert client.get(reverse("connectors:identity_provider")).status_code == 200
        assert (
            client.post(
                reverse("connectors:directory_user_status", args=[eunji.pk]), {"status": "active"}
            ).status_code
            == 403
        )
        assert (
            client.post(reverse("connectors:directory_user_add"), {"email": "x@example.com"}).status_code
            == 403
        )
    client_for(admin).post(reverse("connectors:directory_user_status", args=[eunji.pk]), {"status": "active"})
    eunji.refresh_from_db()
    assert eunji.status == "active" and eunji.terminated_at is None
    page = client_for(reader).get(reverse("connectors:identity_provider")).content
    assert b"eunji.han@example.com" in page and b">Terminate</button>" not in page


def test_admin_sees_the_terminate_button(client_for, admin):
    DirectoryUser.objects.create(email="dana@example.com")
    assert b">Terminate</button>" in client_for(admin).get(reverse("connectors:identity_provider")).content
