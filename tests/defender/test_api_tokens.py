"""Personal API tokens: issued once and stored hashed, accepted as Bearer/Token, refused with a clear 401
when wrong, expired or revoked, acting with the user's role; the token pages and the API's throttle."""

import hashlib
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import Alert
from defender.api_auth import api_token_create, api_token_revoke
from defender.ipintel.services import iprange_save
from defender.models import ApiToken, AuditEntry

pytestmark = pytest.mark.django_db

IPRANGE = {"name": "Head office", "cidrs": ["203.0.113.0/24"], "category": "corporate"}


def bearer(secret: str, keyword: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    return client


def test_only_the_hash_of_the_secret_is_stored(reader):
    issued = api_token_create(user=reader, name="SIEM pull", expires_in_days=90)
    stored = ApiToken.objects.get()
    assert issued.secret.startswith("dfa_") and len(issued.secret) >= 40
    assert stored.key_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert issued.secret not in {getattr(stored, f.attname) for f in ApiToken._meta.fields}
    assert issued.secret.startswith(stored.prefix) and len(stored.prefix) == 12
    assert timedelta(days=89) < stored.expires_at - timezone.now() <= timedelta(days=90)
    assert AuditEntry.objects.filter(action="api_token.create", actor=reader).exists()


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_token_authenticates_with_either_keyword(reader, keyword):
    secret = api_token_create(user=reader, name="x", expires_in_days=30).secret
    response = bearer(secret, keyword).get("/api/v1/alerts/")
    assert response.status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


def test_last_used_is_written_at_most_once_a_minute(reader):
    secret = api_token_create(user=reader, name="x", expires_in_days=30).secret
    client = bearer(secret)
    client.get("/api/v1/alerts/")
    first = ApiToken.objects.get().last_used_at
    client.get("/api/v1/alerts/")
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/alerts/")
    assert ApiToken.objects.get().last_used_at > first


def test_unknown_expired_and_revoked_tokens_are_401_with_the_reason(reader, admin):
    assert bearer("dfa_" + "x" * 43).get("/api/v1/alerts/").json() == {
        "detail": "This API token is not valid.",
        "code": "token_invalid",
    }
    expired = api_token_create(user=reader, name="old", expires_in_days=30)
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(expired.secret).get("/api/v1/alerts/")
    assert response.status_code == 401 and response.json()["code"] == "token_expired"
    assert "expired on" in response.json()["detail"]
    revoked = api_token_create(user=reader, name="gone", expires_in_days=0)
    assert revoked.token.expires_at is None
    api_token_revoke(token=revoked.token, by=admin)
    response = bearer(revoked.secret).get("/api/v1/alerts/")
    assert response.status_code == 401
    assert response.json() == {"detail": "This API token was revoked.", "code": "token_revoked"}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_disabled_users_token_is_refused(reader):
    secret = api_token_create(user=reader, name="x", expires_in_days=30).secret
    reader.is_active = False
    reader.save()
    assert bearer(secret).get("/api/v1/alerts/").json()["code"] == "user_inactive"


def test_no_credentials_is_401_with_the_error_body(client):
    response = client.get("/api/v1/alerts/")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_a_token_acts_with_its_users_role(reader, admin):
    reader_client = bearer(api_token_create(user=reader, name="r", expires_in_days=30).secret)
    assert reader_client.get("/api/v1/ipranges/").status_code == 200
    refused = reader_client.post("/api/v1/ipranges/", IPRANGE, format="json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Your role does not allow this action.", "code": "permission_denied"}
    admin_client = bearer(api_token_create(user=admin, name="a", expires_in_days=30).secret)
    assert admin_client.post("/api/v1/ipranges/", IPRANGE, format="json").status_code == 201


def test_operator_token_writes_what_operators_may(operator, reader):
    now = timezone.now()
    alert = Alert.objects.create(
        title="T", severity="high", first_activity_at=now, last_activity_at=now, dedup_key="tok"
    )
    body = {"status": "resolved", "classification": "benign", "comment": "Expected change."}
    reader_client = bearer(api_token_create(user=reader, name="r", expires_in_days=30).secret)
    assert reader_client.patch(f"/api/v1/alerts/{alert.pk}/", body, format="json").status_code == 403
    operator_client = bearer(api_token_create(user=operator, name="o", expires_in_days=30).secret)
    resolved = operator_client.patch(f"/api/v1/alerts/{alert.pk}/", body, format="json")
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"


def test_token_requests_need_no_csrf_token(admin):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=admin, name='a', expires_in_days=30).secret}"
    )
    assert client.post("/api/v1/ipranges/", IPRANGE, format="json").status_code == 201


def test_throttled_requests_get_429_with_the_error_body(reader, settings):
    cache.clear()
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/minute", "anon": "2/minute"},
    }
    client = bearer(api_token_create(user=reader, name="r", expires_in_days=30).secret)
    assert [client.get("/api/v1/alerts/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = client.get("/api/v1/alerts/")
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    # The budget is the user's, shared by all their tokens.
    other = bearer(api_token_create(user=reader, name="r2", expires_in_days=30).secret)
    assert other.get("/api/v1/alerts/").status_code == 429
    cache.clear()


def test_validation_errors_keep_field_messages_and_gain_detail_and_code(admin):
    client = bearer(api_token_create(user=admin, name="a", expires_in_days=30).secret)
    iprange_save(by=admin, **IPRANGE)
    response = client.post("/api/v1/ipranges/", {**IPRANGE, "cidrs": []}, format="json")
    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "invalid"
    assert body["cidrs"] == ["Enter at least one IP address or network."]
    assert body["detail"].startswith("cidrs: ") or body["detail"].startswith("name: ")
    not_found = client.get("/api/v1/ipranges/999999/")
    assert not_found.status_code == 404 and not_found.json()["code"] == "not_found"


# The token pages.


def test_token_page_lists_only_the_users_own_tokens(client_for, reader, operator):
    api_token_create(user=reader, name="Reader script", expires_in_days=30)
    api_token_create(user=operator, name="Operator script", expires_in_days=30)
    page = client_for(reader).get("/settings/api-tokens/?scope=all")
    assert page.status_code == 200
    assert b"Reader script" in page.content and b"Operator script" not in page.content


def test_admins_see_and_revoke_everyones_tokens(client_for, admin, reader):
    issued = api_token_create(user=reader, name="Reader script", expires_in_days=30)
    client = client_for(admin)
    assert b"Reader script" not in client.get("/settings/api-tokens/").content
    assert b"Reader script" in client.get("/settings/api-tokens/?scope=all").content
    response = client.post(f"/settings/api-tokens/{issued.token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/settings/api-tokens/?scope=all"
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is not None and issued.token.revoked_by == admin
    assert AuditEntry.objects.filter(action="api_token.revoke", actor=admin).exists()


def test_a_user_cannot_revoke_someone_elses_token(client_for, operator, reader):
    issued = api_token_create(user=reader, name="Reader script", expires_in_days=30)
    assert client_for(operator).post(f"/settings/api-tokens/{issued.token.pk}/revoke/").status_code == 404
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None


def test_create_shows_the_secret_once_and_stores_its_hash(client_for, reader):
    client = client_for(reader)
    response = client.post("/settings/api-tokens/new/", {"name": "SOAR", "expires_in_days": "365"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=reader)
    secret = response.context["issued"].secret
    assert secret.encode() in response.content
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    listing = client.get("/settings/api-tokens/")
    assert secret.encode() not in listing.content and token.prefix.encode() in listing.content


def test_create_refuses_a_blank_name_and_an_unknown_expiry(client_for, reader):
    response = client_for(reader).post("/settings/api-tokens/new/", {"name": " ", "expires_in_days": "7"})
    assert response.status_code == 200 and not ApiToken.objects.exists()
    assert response.context["form"].errors.keys() == {"name", "expires_in_days"}


def test_token_pages_need_a_signed_in_user_with_a_role(client, django_user_model):
    assert client.get("/settings/api-tokens/").status_code == 302
    assert client.post("/settings/api-tokens/new/", {"name": "x", "expires_in_days": "30"}).status_code == 302
    nobody = django_user_model.objects.create_user(username="no-role", password="correct-horse-battery")
    signed_in = Client()
    signed_in.force_login(nobody)
    assert signed_in.get("/settings/api-tokens/").status_code == 403
    assert (
        signed_in.post("/settings/api-tokens/new/", {"name": "x", "expires_in_days": "30"}).status_code == 403
    )
    assert not ApiToken.objects.exists()


def test_token_forms_need_the_csrf_token(reader):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader)
    assert client.post("/settings/api-tokens/new/", {"name": "x", "expires_in_days": "30"}).status_code == 403
    issued = api_token_create(user=reader, name="x", expires_in_days=30)
    assert client.post(f"/settings/api-tokens/{issued.token.pk}/revoke/").status_code == 403
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None and ApiToken.objects.count() == 1
