"""Every upload refuses a file over UPLOAD_MAX_BYTES with a message that says the limit, before the
body is read."""

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from defender.middleware import MULTIPART_ALLOWANCE
from defender.models import ThreatFeed
from tests.connectors.test_wizard import step, walk_to_credentials

pytestmark = pytest.mark.django_db

LIMIT = 50_000


@pytest.fixture
def small_limit(settings):
    settings.UPLOAD_MAX_BYTES = LIMIT


def oversized(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"a" * (LIMIT + MULTIPART_ALLOWANCE + 1))


def upload_forms() -> dict[str, tuple[str, str, str]]:
    """kind -> (the page with the form, the URL it posts to, the file field)."""
    feed = ThreatFeed.objects.create(name="Tor", kind=ThreatFeed.Kind.TOR_EXIT_NODES, tag="Tor exit node")
    feed_upload = reverse("defender:threat_feed_upload", args=[feed.pk])
    return {
        "credentials CSV": (step("credentials"), step("credentials"), "csv_file"),
        "directory CSV": (
            reverse("connectors:identity_provider"),
            reverse("connectors:directory_import"),
            "file",
        ),
        "threat feed file": (feed_upload, feed_upload, "file"),
        "policy import": (reverse("policies:import"), reverse("policies:import"), "file"),
    }


@pytest.mark.parametrize("kind", ["credentials CSV", "directory CSV", "threat feed file", "policy import"])
def test_oversized_upload_is_refused_with_the_limit(small_limit, client_for, admin, kind):
    client = client_for(admin)
    walk_to_credentials(client)
    page, url, field = upload_forms()[kind]
    referer = "http://testserver" + page
    response = client.post(url, {field: oversized("big.csv")}, HTTP_REFERER=referer)
    assert response.status_code == 302 and response["Location"] == referer
    (shown,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown.startswith("The upload is too large (")
    assert shown.endswith("The largest file accepted is 48.8\xa0KB.")
    # The message is shown on the page the person comes back to.
    assert "The largest file accepted is 48.8" in client.get(page).content.decode()


def test_api_answers_413(small_limit, client_for, admin):
    response = client_for(admin).post(
        "/api/v1/policies/", data=b"x" * (LIMIT + MULTIPART_ALLOWANCE + 1), content_type="application/json"
    )
    assert response.status_code == 413
    assert "The largest file accepted is" in response.json()["detail"]


def test_a_file_within_the_limit_reaches_the_form(small_limit, client_for, operator):
    upload = SimpleUploadedFile("policy.yaml", b"not: [valid")
    response = client_for(operator).post(reverse("policies:import"), {"file": upload})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
