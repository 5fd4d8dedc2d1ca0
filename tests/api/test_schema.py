"""/api/schema/ and /api/docs/: generated from the code, valid without warnings, behind sign-in, and the
docs page served entirely by the app (no CDN)."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

from defender.api_auth import api_token_create

pytestmark = pytest.mark.django_db


def test_schema_generates_without_errors_or_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    # --fail-on-warn makes any warning (an unresolved type, an enum collision) an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/v1/alerts/{id}/" in target.read_text()


def test_schema_documents_auth_errors_and_filters(client_for, reader):
    schema = client_for(reader).get("/api/schema/?format=json").json()
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "dfa_<43 characters>",
        "description": schema["components"]["securitySchemes"]["tokenAuth"]["description"],
    }
    alerts = schema["paths"]["/api/v1/alerts/"]["get"]
    assert {"status", "severity", "principal", "limit", "offset"} <= {p["name"] for p in alerts["parameters"]}
    assert {"200", "400", "401", "403", "429"} <= alerts["responses"].keys()
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "detail"]
    patch = schema["paths"]["/api/v1/alerts/{id}/"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("TriageRequest")
    assert {"400", "404"} <= patch["responses"].keys()


def test_schema_is_served_to_a_token(reader):
    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=reader, name='ci', expires_in_days=30).secret}"
    )
    assert client.get("/api/schema/").status_code == 200


def test_schema_and_docs_need_a_signed_in_user_with_a_role(client, django_user_model):
    assert client.get("/api/schema/").status_code == 401
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")
    nobody = django_user_model.objects.create_user(username="no-role", password="correct-horse-battery")
    signed_in = Client()
    signed_in.force_login(nobody)
    assert signed_in.get("/api/schema/").status_code == 403
    assert signed_in.get("/api/docs/").status_code == 403


def test_docs_page_loads_nothing_from_other_hosts(client_for, reader):
    page = client_for(reader).get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html and "/api/schema/" in html
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    assert sources, "the page should load Swagger UI's script and stylesheet"
    assert all(not re.match(r"(?i)(https?:)?//", url) for url in sources), sources
    assert not re.search(r"""(?i)["'](https?:)?//(?!127\.0\.0\.1|localhost|testserver)""", html)
