import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from connectors.models import Connector

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


def test_anonymous_gets_401_or_403_not_a_redirect(client):
    response = client.get("/api/v1/connectors/")
    assert response.status_code in {401, 403}
    assert response["Content-Type"].startswith("application/json")


def test_create_validates_and_never_returns_the_secret(aws, connector_user, api_for, admin):
    aws.enable_auth()
    response = api_for(admin).post(
        "/api/v1/connectors/",
        {
            "name": "Production",
            "access_key_id": connector_user.credentials.access_key_id,
            "secret_access_key": connector_user.credentials.secret_access_key,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.data["status"] == "connected"
    assert "secret_access_key" not in response.data
    listing = api_for(admin).get("/api/v1/connectors/")
    assert connector_user.credentials.secret_access_key not in listing.content.decode()
    assert listing.data["results"][0]["account_id"] == "123456789012"


def test_create_with_a_bogus_key_is_400_with_the_report(aws, seeded_account, api_for, admin):
    aws.enable_auth()
    response = api_for(admin).post(
        "/api/v1/connectors/",
        {"name": "Bogus", "access_key_id": "AKIAZZZZZZZZZZZZZZZZ", "secret_access_key": "z" * 40},
        format="json",
    )
    assert response.status_code == 400
    assert response.data["validation_report"][0]["error_code"] == "InvalidClientTokenId"
    assert not Connector.objects.exists()


@pytest.mark.parametrize("role", ["operator", "reader"])
def test_non_admins_read_but_do_not_write(request, api_for, role):
    client = api_for(request.getfixturevalue(role))
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    assert client.get("/api/v1/connectors/").status_code == 200
    assert client.post("/api/v1/connectors/", {"name": "x"}, format="json").status_code == 403
    assert client.post(f"/api/v1/connectors/{connector.pk}/disable/").status_code == 403
    assert client.delete(f"/api/v1/connectors/{connector.pk}/").status_code == 403


def test_admin_disables_and_enables(api_for, admin, django_capture_on_commit_callbacks):
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    client = api_for(admin)
    assert client.post(f"/api/v1/connectors/{connector.pk}/disable/").data["status"] == "disabled"
    with django_capture_on_commit_callbacks():
        assert client.post(f"/api/v1/connectors/{connector.pk}/enable/").data["status"] == "pending"
    assert reverse("connector-list") == "/api/v1/connectors/"
