"""The Entra ID connector: the Graph client, the sync into the directory and the settings page, against
the local fake Graph (localaws.graph), which speaks Graph's and the token endpoint's real shapes."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from connectors import directory, entra, entra_sync
from connectors.entra import GraphClient, GraphError
from connectors.models import DirectoryUser, EntraConnection, PrincipalMapping
from defender import crypto
from policies.engine import evaluate_batch
from policies.templates.registry import get_template
from tests.policies.activities import T0, activity, call


def client_of(fake, **overrides) -> GraphClient:
    options = {
        "tenant_id": fake.tenant_id,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "graph_base_url": fake.base_url,
        "login_base_url": fake.login_url,
        **overrides,
    }
    return GraphClient(**options)


def settings_of(fake, **overrides) -> entra_sync.EntraSettings:
    options = {
        "tenant_id": fake.tenant_id,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "graph_base_url": fake.base_url,
        "login_base_url": fake.login_url,
        **overrides,
    }
    return entra_sync.EntraSettings(**options)


# The client ---------------------------------------------------------------------------------------


def test_one_token_serves_every_call_and_every_client_of_the_same_credentials(fake_graph):
    alice = fake_graph.add_user("Alice Kim", "alice@example.com")
    client = client_of(fake_graph)
    assert [u["mail"] for u in client.list_users()] == ["alice@example.com"]
    assert client.get_user(alice["id"])["displayName"] == "Alice Kim"
    assert client_of(fake_graph).get_user(alice["id"])["accountEnabled"] is True
    (token_request,) = fake_graph.token_requests()
    method, path, form = token_request
    assert (method, path) == ("POST", f"/{fake_graph.tenant_id}/oauth2/v2.0/token")
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "https://graph.microsoft.com/.default"
    assert len(fake_graph.graph_requests("GET")) == 3


def test_a_token_is_replaced_before_it_expires(fake_graph):
    fake_graph.token_lifetime = 2  # the client renews at half the life of such a short token
    user = fake_graph.add_user("Alice Kim", "alice@example.com")
    client = client_of(fake_graph)
    client.get_user(user["id"])
    time.sleep(1.2)
    client.get_user(user["id"])
    assert len(fake_graph.token_requests()) == 2


def test_a_token_the_tenant_stopped_accepting_is_fetched_again_once(fake_graph):
    user = fake_graph.add_user("Alice Kim", "alice@example.com")
    client = client_of(fake_graph)
    client.get_user(user["id"])
    fake_graph._tokens.clear()  # as if Entra ID revoked it
    assert client.get_user(user["id"])["id"] == user["id"]
    assert len(fake_graph.token_requests()) == 2


def test_users_are_read_page_by_page_with_the_selected_fields(fake_graph):
    fake_graph.max_page_size = 2
    made = [fake_graph.add_user(f"User {n}", f"user{n}@example.com") for n in range(5)]
    users = list(client_of(fake_graph).list_users())
    assert [u["id"] for u in users] == [u["id"] for u in made]
    assert set(users[0]) == {"id", "displayName", "mail", "userPrincipalName", "accountEnabled"}
    assert len(fake_graph.graph_requests("GET")) == 3


def test_deleted_users_come_with_their_deletion_time(fake_graph):
    gone = fake_graph.add_user("Carol Diaz", "carol@example.com")
    fake_graph.delete_user(gone["id"], when="2026-11-20T10:00:00Z")
    (deleted,) = client_of(fake_graph).list_deleted_users()
    assert deleted["deletedDateTime"] == "2026-11-20T10:00:00Z"
    assert deleted["userPrincipalName"] == gone["id"].replace("-", "") + "carol@example.com"
    assert list(client_of(fake_graph).list_users()) == []


def test_revoke_sessions_and_disable_a_user(fake_graph):
    user = fake_graph.add_user("Bob Lee", "bob@example.com")
    client = client_of(fake_graph)
    assert client.revoke_sign_in_sessions(user["id"]) is None
    client.set_account_enabled(user["id"], False)
    assert fake_graph.users[user["id"]]["accountEnabled"] is False
    assert ("POST", f"/v1.0/users/{user['id']}/revokeSignInSessions", None) in fake_graph.requests
    assert ("PATCH", f"/v1.0/users/{user['id']}", {"accountEnabled": False}) in fake_graph.requests
    client.set_account_enabled(user["id"], True)
    assert fake_graph.users[user["id"]]["accountEnabled"] is True


def test_an_unknown_user_is_a_permanent_error(fake_graph):
    with pytest.raises(GraphError) as raised:
        client_of(fake_graph).revoke_sign_in_sessions("00000000-0000-0000-0000-000000000000")
    error = raised.value
    assert (error.status, error.code, error.transient) == (404, "Request_ResourceNotFound", False)
    assert "Entra ID has no such user" in error.message


def test_throttling_is_retried_after_the_time_graph_asks_for(fake_graph):
    fake_graph.add_user("Alice Kim", "alice@example.com")
    fake_graph.fail_next(429, retry_after=1)
    started = time.monotonic()
    assert len(list(client_of(fake_graph).list_users())) == 1
    assert time.monotonic() - started >= 0.9
    assert len(fake_graph.graph_requests("GET")) == 2


def test_throttling_longer_than_the_client_waits_is_left_to_the_caller(fake_graph):
    fake_graph.fail_next(429, retry_after=3600)
    with pytest.raises(GraphError) as raised:
        list(client_of(fake_graph).list_users())
    assert (raised.value.status, raised.value.code, raised.value.transient) == (429, "TooManyRequests", True)
    assert len(fake_graph.graph_requests()) == 1


def test_service_unavailable_is_transient(fake_graph):
    fake_graph.fail_next(503)
    with pytest.raises(GraphError) as raised:
        list(client_of(fake_graph).list_users())
    assert (raised.value.status, raised.value.transient) == (503, True)
    assert "Microsoft Graph is unavailable (HTTP 503" in raised.value.message


def test_a_wrong_secret_says_so_with_entra_ids_code(fake_graph):
    with pytest.raises(GraphError) as raised:
        list(client_of(fake_graph, client_secret="the-secret-id-not-its-value").list_users())
    error = raised.value
    assert error.message.startswith("The client secret is wrong (AADSTS7000215)")
    assert (error.status, error.code, error.transient) == (401, "AADSTS7000215", False)
    assert fake_graph.graph_requests() == []


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"tenant_id": "11111111-2222-3333-4444-555555555555"},
            "The tenant ID is not a Microsoft Entra tenant",
        ),
        ({"client_id": "99999999-2222-3333-4444-555555555555"}, "The client ID is not an application"),
    ],
)
def test_a_wrong_tenant_or_client_says_which(fake_graph, override, expected):
    with pytest.raises(GraphError, match=expected) as raised:
        client_of(fake_graph, **override).get_user("x")
    assert raised.value.status == 400 and not raised.value.transient


def test_graph_refuses_requests_without_a_valid_token(fake_graph):
    empty = requests.get(f"{fake_graph.base_url}/users", timeout=5)
    assert empty.status_code == 401
    assert empty.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert empty.json()["error"]["message"] == "Access token is empty."
    forged = requests.get(
        f"{fake_graph.base_url}/users", headers={"Authorization": "Bearer forged"}, timeout=5
    )
    assert forged.status_code == 401


def test_an_unreachable_graph_is_transient():
    nowhere = "http://127.0.0.1:9"  # the discard port: nothing listens
    client = GraphClient(
        tenant_id="t",
        client_id="c",
        client_secret="s",
        graph_base_url=f"{nowhere}/v1.0",
        login_base_url=nowhere,
    )
    with pytest.raises(GraphError) as raised:
        client.get_user("x")
    assert raised.value.transient and raised.value.status is None


# The connection -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_graph_client_exists_only_for_an_enabled_connection(fake_graph, admin):
    assert entra.graph_client() is None
    connection = entra_sync.entra_connection_save(config=settings_of(fake_graph), by=admin)
    client = entra.graph_client()
    assert client is not None and client.tenant_id == fake_graph.tenant_id
    fake_graph.add_user("Alice Kim", "alice@example.com")
    assert len(list(client.list_users())) == 1
    entra_sync.entra_connection_set_enabled(connection=connection, enabled=False, by=admin)
    assert entra.graph_client() is None


@pytest.mark.django_db
def test_the_secret_is_encrypted_at_rest(fake_graph, admin):
    entra_sync.entra_connection_save(config=settings_of(fake_graph), by=admin)
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT client_secret_encrypted FROM connectors_entraconnection")
        (raw,) = cursor.fetchone()
    assert raw and fake_graph.client_secret not in raw
    assert EntraConnection.objects.get().client_secret == fake_graph.client_secret
    # So rotate_encryption_key re-encrypts it too.
    found = {f"{model._meta.label}.{field.name}" for model, field in crypto.encrypted_fields()}
    assert "connectors.EntraConnection.client_secret_encrypted" in found


@pytest.mark.django_db
def test_settings_that_cannot_sign_in_are_not_saved(fake_graph, admin):
    with pytest.raises(entra_sync.EntraConnectionError, match="AADSTS7000215"):
        entra_sync.entra_connection_save(config=settings_of(fake_graph, client_secret="wrong"), by=admin)
    assert not EntraConnection.objects.exists()


# The sync -----------------------------------------------------------------------------------------


@pytest.fixture
def tenant(fake_graph, admin, django_capture_on_commit_callbacks):
    """The fake tenant connected; the sync the save queues is run by each test itself."""
    with django_capture_on_commit_callbacks(execute=False):
        entra_sync.entra_connection_save(config=settings_of(fake_graph), by=admin)
    return fake_graph


@pytest.mark.django_db
def test_sync_creates_terminates_and_takes_over_matching_built_in_rows(tenant, admin):
    alice = tenant.add_user("Alice Kim", "alice@example.com")
    tenant.add_user("Bob Lee", "bob@example.com", account_enabled=False)
    carol = tenant.add_user("Carol Diaz", "carol@example.com")
    tenant.delete_user(carol["id"], when="2026-11-20T10:00:00Z")
    guest = tenant.add_user("Gil Guest", None, user_principal_name="gil_gmail.com#EXT#@fake.onmicrosoft.com")
    frank = tenant.add_user("Frank Ode", "Frank@Example.com")
    built_in_frank = DirectoryUser.objects.create(
        email="frank@example.com", status="terminated", terminated_at=T0 - timedelta(days=40)
    )
    PrincipalMapping.objects.create(
        principal="arn:aws:iam::123456789012:user/ci", directory_user=built_in_frank
    )
    DirectoryUser.objects.create(email="erin@example.com", display_name="Erin (built-in)")

    before = timezone.now()
    counts = entra_sync.identity_provider_sync()

    rows = {u.email: u for u in DirectoryUser.objects.all()}
    assert set(rows) == {
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "frank@example.com",
        "erin@example.com",
    }
    assert (rows["alice@example.com"].status, rows["alice@example.com"].external_id) == (
        "active",
        alice["id"],
    )
    assert rows["alice@example.com"].source == "entra_id"
    bob = rows["bob@example.com"]
    assert bob.status == "terminated" and bob.terminated_at >= before
    assert rows["carol@example.com"].terminated_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
    taken_over = rows["frank@example.com"]
    assert (taken_over.pk, taken_over.source, taken_over.external_id) == (
        built_in_frank.pk,
        "entra_id",
        frank["id"],
    )
    assert (taken_over.status, taken_over.terminated_at, taken_over.display_name) == (
        "active",
        None,
        "Frank Ode",
    )
    assert taken_over.mappings.count() == 1
    assert (
        rows["erin@example.com"].source == "builtin"
        and rows["erin@example.com"].display_name == "Erin (built-in)"
    )
    assert guest["id"] not in {u.external_id for u in rows.values()}
    assert (counts.seen, counts.created, counts.updated, counts.terminated, counts.skipped) == (5, 3, 1, 2, 1)
    connection = EntraConnection.objects.get()
    assert (
        connection.status == "connected" and connection.last_sync_at and connection.sync_running_since is None
    )
    assert connection.sync_counts["created"] == 3


@pytest.mark.django_db
def test_a_second_sync_follows_enabling_disabling_deleting_and_purging(tenant):
    alice = tenant.add_user("Alice Kim", "alice@example.com")
    bob = tenant.add_user("Bob Lee", "bob@example.com", account_enabled=False)
    dan = tenant.add_user("Dan Moss", "dan@example.com")
    erik = tenant.add_user("Erik Sand", "erik@example.com")
    entra_sync.identity_provider_sync()
    first_bob_termination = DirectoryUser.objects.get(email="bob@example.com").terminated_at

    tenant.users[alice["id"]]["accountEnabled"] = False
    tenant.users[bob["id"]]["accountEnabled"] = True
    tenant.users[dan["id"]]["displayName"] = "Daniel Moss"
    tenant.delete_user(erik["id"], when="2026-11-25T08:30:00Z")
    counts = entra_sync.identity_provider_sync()

    rows = {u.email: u for u in DirectoryUser.objects.all()}
    assert rows["alice@example.com"].status == "terminated"
    assert rows["bob@example.com"].status == "active" and rows["bob@example.com"].terminated_at is None
    assert first_bob_termination is not None
    assert rows["dan@example.com"].display_name == "Daniel Moss"
    assert rows["erik@example.com"].terminated_at == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert (counts.terminated, counts.reinstated, counts.updated) == (2, 1, 4)

    alice_terminated_at = rows["alice@example.com"].terminated_at
    del tenant.users[alice["id"]]  # purged: neither a user nor a deleted user any more
    del tenant.deleted_users[erik["id"]]
    entra_sync.identity_provider_sync()
    assert DirectoryUser.objects.get(email="alice@example.com").terminated_at == alice_terminated_at
    assert DirectoryUser.objects.get(email="erik@example.com").status == "terminated"


@pytest.mark.django_db
def test_a_new_account_reusing_a_deleted_ones_email_wins_it(tenant):
    old = tenant.add_user("Pat Old", "pat@example.com")
    entra_sync.identity_provider_sync()
    tenant.delete_user(old["id"], when="2026-11-01T00:00:00Z")
    new = tenant.add_user("Pat New", "pat@example.com")
    counts = entra_sync.identity_provider_sync()
    pat = DirectoryUser.objects.get(email="pat@example.com")
    assert (pat.external_id, pat.status, pat.display_name) == (new["id"], "active", "Pat New")
    assert counts.skipped == 1


@pytest.mark.django_db
def test_the_terminated_user_detector_sees_synchronized_people(tenant):
    eunji = tenant.add_user("Eunji Han", "eunji.han@example.com")
    tenant.add_user("Alice Kim", "alice@example.com")
    tenant.delete_user(eunji["id"], when=(T0 - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    entra_sync.identity_provider_sync()
    events = [
        call("GetObject", "s3.amazonaws.com", at=T0 + timedelta(minutes=5), user="eunji.han"),
        call("GetObject", "s3.amazonaws.com", at=T0 + timedelta(minutes=5), user="alice"),
    ]
    findings = evaluate_batch(
        [get_template("anomaly_terminated_user").spec()],
        [activity(e) for e in events],
        states={},
        context={"directory": directory.directory_snapshot()},
    )
    assert [f.principal for f in findings] == ["arn:aws:iam::123456789012:user/eunji.han"]
    assert "Eunji Han (eunji.han@example.com) was terminated at" in findings[0].description


@pytest.mark.django_db
def test_a_failed_sync_is_recorded_and_transient_ones_say_so(tenant):
    tenant.fail_next(503)
    with pytest.raises(GraphError) as raised:
        entra_sync.identity_provider_sync()
    assert raised.value.transient
    connection = EntraConnection.objects.get()
    assert connection.status == "error" and "HTTP 503" in connection.last_error
    assert connection.sync_running_since is None
    entra_sync.identity_provider_sync()
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == ("connected", "")


@pytest.mark.django_db
def test_a_running_sync_is_not_run_twice_and_a_disabled_connection_not_at_all(tenant, admin):
    EntraConnection.objects.update(sync_running_since=timezone.now())
    assert entra_sync.identity_provider_sync() is None
    EntraConnection.objects.update(sync_running_since=timezone.now() - timedelta(hours=1))
    assert entra_sync.identity_provider_sync() is not None
    entra_sync.entra_connection_set_enabled(connection=EntraConnection.objects.get(), enabled=False, by=admin)
    assert entra_sync.identity_provider_sync() is None


@pytest.mark.django_db
def test_the_task_is_scheduled_and_runs_the_sync(tenant, settings):
    from connectors.tasks import identity_provider_sync_task

    tenant.add_user("Alice Kim", "alice@example.com")
    entry = settings.CELERY_BEAT_SCHEDULE["connectors-sync-identity-provider"]
    assert entry == {
        "task": "connectors.sync_identity_provider",
        "schedule": settings.IDENTITY_SYNC_MINUTES * 60,
    }
    identity_provider_sync_task.apply()
    assert DirectoryUser.objects.filter(email="alice@example.com", source="entra_id").exists()


# The page -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_tests_and_saves_the_connection_and_the_secret_never_shows(
    fake_graph, client_for, admin, settings, django_capture_on_commit_callbacks
):
    settings.AWS_ADVANCED_MODE = True
    client = client_for(admin)
    url = reverse("connectors:entra_save")
    form = {
        "tenant_id": fake_graph.tenant_id,
        "client_id": fake_graph.client_id,
        "client_secret": "wrong-secret",
        "graph_base_url": fake_graph.base_url,
        "login_base_url": fake_graph.login_url,
    }
    failed = client.post(url, {**form, "action": "test"})
    assert b"The client secret is wrong (AADSTS7000215)" in failed.content
    assert b"wrong-secret" not in failed.content
    refused = client.post(url, {**form, "action": "save"})
    assert b"Not saved: The client secret is wrong" in refused.content
    assert not EntraConnection.objects.exists()

    fake_graph.add_user("Alice Kim", "alice@example.com")
    form["client_secret"] = fake_graph.client_secret
    tested = client.post(url, {**form, "action": "test"})
    assert b"read a user (Alice Kim)" in tested.content
    assert fake_graph.client_secret.encode() not in tested.content
    with django_capture_on_commit_callbacks() as queued:
        saved = client.post(url, {**form, "action": "save"}, follow=True)
    assert len(queued) == 1  # the first sync
    assert b"Microsoft Entra ID is connected" in saved.content
    assert b"Stored, encrypted" in saved.content
    assert fake_graph.client_secret.encode() not in saved.content

    # A change without a new secret keeps the stored one.
    form["client_secret"] = ""
    with django_capture_on_commit_callbacks():
        client.post(url, {**form, "action": "save"})
    assert EntraConnection.objects.get().client_secret == fake_graph.client_secret


@pytest.mark.django_db
def test_graph_urls_are_only_offered_in_advanced_mode(client_for, admin, settings):
    settings.AWS_ADVANCED_MODE = False
    page = client_for(admin).get(reverse("connectors:identity_provider")).content
    assert b'name="tenant_id"' in page and b'name="graph_base_url"' not in page
    settings.AWS_ADVANCED_MODE = True
    assert b'name="graph_base_url"' in client_for(admin).get(reverse("connectors:identity_provider")).content


@pytest.mark.django_db
def test_readers_and_operators_see_the_connection_but_change_nothing(tenant, client_for, operator, reader):
    entra_sync.identity_provider_sync()
    for user in (operator, reader):
        client = client_for(user)
        page = client.get(reverse("connectors:identity_provider")).content
        assert tenant.tenant_id.encode() in page and b"Stored, encrypted" in page
        assert tenant.client_secret.encode() not in page
        assert b'name="client_secret"' not in page and b"Sync now" not in page
        assert client.post(reverse("connectors:entra_save"), {"tenant_id": "x"}).status_code == 403
        assert client.post(reverse("connectors:entra_sync")).status_code == 403
        assert client.post(reverse("connectors:entra_set_enabled"), {"enabled": "false"}).status_code == 403
    assert EntraConnection.objects.get().enabled


@pytest.mark.django_db
def test_admin_disables_enables_and_syncs(tenant, client_for, admin, django_capture_on_commit_callbacks):
    client = client_for(admin)
    client.post(reverse("connectors:entra_set_enabled"), {"enabled": "false"})
    assert not EntraConnection.objects.get().enabled
    page = client.post(reverse("connectors:entra_sync"), follow=True).content
    assert b"Entra ID sync is disabled: enable it first." in page
    with django_capture_on_commit_callbacks() as queued:
        client.post(reverse("connectors:entra_set_enabled"), {"enabled": "true"})
    assert EntraConnection.objects.get().enabled and len(queued) == 1
    with django_capture_on_commit_callbacks() as queued:
        page = client.post(reverse("connectors:entra_sync"), follow=True).content
    assert b"A sync of Entra ID users was queued." in page and len(queued) == 1
