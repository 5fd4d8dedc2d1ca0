"""The Entra ID branches of the user actions, against the local fake Microsoft Graph: an AWS principal
mapped to a person synchronized from Entra ID is acted on in Entra ID, through the governance services
a person, the API and a policy use."""

import pytest

from connectors.models import DirectoryUser, EntraConnection, PrincipalMapping
from governance import services
from governance.models import GovernanceRun

pytestmark = pytest.mark.django_db

PRINCIPAL = "arn:aws:iam::123456789012:user/alice-ci"


@pytest.fixture
def alice(fake_graph):
    """Alice in the fake tenant, synchronized into the directory, owner of the IAM user alice-ci."""
    connection = EntraConnection(
        pk=EntraConnection.SINGLETON_PK,
        tenant_id=fake_graph.tenant_id,
        client_id=fake_graph.client_id,
        graph_base_url=fake_graph.base_url,
        login_base_url=fake_graph.login_url,
        enabled=True,
        status=EntraConnection.Status.CONNECTED,
    )
    connection.client_secret = fake_graph.client_secret
    connection.save()
    user = fake_graph.add_user("Alice Kim", "alice@example.com")
    person = DirectoryUser.objects.create(
        email="alice@example.com",
        display_name="Alice Kim",
        source=DirectoryUser.Source.ENTRA_ID,
        external_id=user["id"],
    )
    PrincipalMapping.objects.create(principal=PRINCIPAL, directory_user=person)
    return user


def _run(action: str, connector) -> GovernanceRun:
    run = services.run_create(action_key=action, connector=connector, target=PRINCIPAL)
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_require_sign_in_revokes_the_entra_id_sessions(connector, fake_graph, alice):
    run = _run("user_require_sign_in", connector)

    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    assert run.summary == "Revoked the Entra ID sessions of alice-ci."
    assert fake_graph.graph_requests("POST") == [
        ("POST", f"/v1.0/users/{alice['id']}/revokeSignInSessions", None)
    ]
    assert not services.can_revert(run), "revoked sessions cannot be given back"


def test_suspend_disables_the_entra_id_account_and_revert_enables_it(connector, fake_graph, alice, operator):
    run = _run("user_suspend", connector)

    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    assert fake_graph.users[alice["id"]]["accountEnabled"] is False
    assert ("PATCH", f"/v1.0/users/{alice['id']}", {"accountEnabled": False}) in fake_graph.requests
    assert services.can_revert(run)

    services.run_request_revert(run=run, by=operator)
    services.run_revert(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.REVERTED, run.error
    assert fake_graph.users[alice["id"]]["accountEnabled"] is True


def test_an_unmapped_principal_is_not_acted_on_in_entra_id(connector, fake_graph, alice):
    run = services.run_create(
        action_key="user_require_sign_in",
        connector=connector,
        target="arn:aws:sts::123456789012:assumed-role/Deploy/build-42",
    )
    services.run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.FAILED
    assert "is not an IAM user and is not mapped to an Entra ID user" in run.error
    assert fake_graph.graph_requests() == []


@pytest.mark.parametrize(
    ("status", "words"),
    [(403, "Grant the portal's app registration User.ReadWrite.All."), (404, "no longer exists in Entra ID")],
)
def test_a_refusal_from_graph_fails_the_run_at_once_with_the_reason(
    connector, fake_graph, alice, status, words
):
    fake_graph.fail_next(status)

    run = _run("user_suspend", connector)

    assert run.status == GovernanceRun.Status.FAILED and run.attempts == 1
    assert run.error.startswith("Microsoft Entra ID refused the change (") and words in run.error
    assert fake_graph.users[alice["id"]]["accountEnabled"] is True


def test_graph_unavailable_is_retried_later_and_then_succeeds(connector, fake_graph, alice):
    fake_graph.fail_next(503)
    run = services.run_create(action_key="user_require_sign_in", connector=connector, target=PRINCIPAL)

    with pytest.raises(services.RetryLater):
        services.run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.PENDING and run.attempts == 1
    assert "Microsoft Entra ID could not be reached" in run.error
    assert services.run_execute(run_id=run.pk).status == GovernanceRun.Status.SUCCEEDED
    assert len(fake_graph.graph_requests("POST")) == 2
