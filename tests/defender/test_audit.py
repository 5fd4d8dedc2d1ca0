"""The audit log: sign-ins with their IP, changes through the services, the brute-force lockout and
the Settings > Audit log page."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts import services as alert_services
from connectors import services as connector_services
from defender import services as user_services
from defender.audit import AuditAction, audit_governance_run, audit_ip, audit_record
from defender.auth import sign_in_locked_until
from defender.models import AuditEntry
from policies import services as policy_services
from tests.alerts.test_triage import make_alert
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(username: str, password: str, ip: str = "198.51.100.7") -> Client:
    client = Client(REMOTE_ADDR=ip)
    client.response = client.post(LOGIN, {"username": username, "password": password})
    return client


def entries(action: str):
    return AuditEntry.objects.filter(action=action)


def test_successful_sign_in_is_recorded_with_the_ip(reader):
    client = sign_in(reader.username, PASSWORD)
    assert client.response.status_code == 302
    entry = entries(AuditAction.SIGN_IN).get()
    assert (entry.actor, entry.actor_name, entry.ip) == (reader, reader.username, "198.51.100.7")


def test_failed_sign_in_is_recorded_with_the_name_tried_and_the_ip(reader):
    client = sign_in(reader.username, "wrong-password")
    assert client.response.status_code == 200
    entry = entries(AuditAction.SIGN_IN_FAILED).get()
    assert (entry.actor, entry.actor_name, entry.ip) == (None, reader.username, "198.51.100.7")
    assert "wrong-password" not in str(entry.details) + entry.target_label


def test_sign_out_is_recorded(reader, client_for):
    client = client_for(reader)
    client.post(reverse("logout"))
    assert entries(AuditAction.SIGN_OUT).filter(actor=reader).exists()


def test_ip_behind_a_tls_proxy_is_the_hop_our_proxy_added(reader, settings):
    settings.BEHIND_TLS_PROXY = True
    client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    client.post(LOGIN, {"username": reader.username, "password": PASSWORD})
    assert entries(AuditAction.SIGN_IN).get().ip == "203.0.113.9"


def test_forwarded_for_is_ignored_without_a_proxy(reader):
    client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4")
    client.post(LOGIN, {"username": reader.username, "password": PASSWORD})
    assert entries(AuditAction.SIGN_IN).get().ip == "10.0.0.2"


# Brute force


def test_sign_in_locks_after_the_failure_limit_with_a_clear_message(reader, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_MINUTES = 15
    for _ in range(3):
        assert sign_in(reader.username, "wrong-password").response.status_code == 200
    # Even the right password is refused while the lock holds.
    locked = sign_in(reader.username, PASSWORD).response
    assert locked.status_code == 200
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "Try again in 15 minutes" in locked.content.decode()
    assert not entries(AuditAction.SIGN_IN).exists()
    assert entries(AuditAction.SIGN_IN_BLOCKED).get().ip == "198.51.100.7"
    # Another address is not locked: an attacker cannot lock the real user out from elsewhere.
    assert sign_in(reader.username, PASSWORD, ip="192.0.2.44").response.status_code == 302


def test_lock_expires_after_the_lockout_minutes(reader, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(reader.username, "wrong-password")
    assert sign_in_locked_until(username=reader.username, ip="198.51.100.7") is not None
    AuditEntry.objects.update(at=timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1))
    assert sign_in_locked_until(username=reader.username, ip="198.51.100.7") is None
    assert sign_in(reader.username, PASSWORD).response.status_code == 302


def test_a_successful_sign_in_resets_the_failure_count(reader, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        sign_in(reader.username, "wrong-password")
    assert sign_in(reader.username, PASSWORD).response.status_code == 302
    for _ in range(2):
        sign_in(reader.username, "wrong-password")
    assert sign_in_locked_until(username=reader.username, ip="198.51.100.7") is None


# Changes through the services


def test_user_management_is_audited(admin):
    with audit_ip("192.0.2.10"):
        user = user_services.user_create(username="new-analyst", role="reader", password=PASSWORD, by=admin)
        user_services.user_set_role(user=user, role="operator", by=admin)
        user_services.user_set_active(user=user, active=False, by=admin)
    recorded = list(AuditEntry.objects.filter(actor=admin).order_by("id").values_list("action", "ip"))
    assert recorded == [
        (AuditAction.USER_CREATE, "192.0.2.10"),
        (AuditAction.USER_SET_ROLE, "192.0.2.10"),
        (AuditAction.USER_DISABLE, "192.0.2.10"),
    ]
    role_change = entries(AuditAction.USER_SET_ROLE).get()
    assert role_change.details == {"from": "Security reader", "to": "Security operator"}
    assert role_change.target_label == "new-analyst"


def test_a_view_records_the_request_ip(admin, reader):
    client = Client(REMOTE_ADDR="203.0.113.50")
    client.force_login(admin)
    client.post(reverse("defender:user_set_active", args=[reader.pk]), {"active": "0"})
    entry = entries(AuditAction.USER_DISABLE).get()
    assert (entry.actor, entry.target_id, entry.ip) == (admin, str(reader.pk), "203.0.113.50")


def test_connector_changes_are_audited(aws, connector_user, admin):
    from tests.connectors.test_services import settings_for

    aws.enable_auth()
    connector = connector_services.connector_save(config=settings_for(connector_user), by=admin)
    connector_services.connector_save(
        config=settings_for(connector_user, name="Production EU"), by=admin, connector=connector
    )
    connector_services.connector_set_enabled(connector=connector, enabled=False, by=admin)
    connector_services.connector_delete(connector=connector, by=admin)
    actions = list(AuditEntry.objects.filter(target_type="connector").order_by("id"))
    assert [e.action for e in actions] == [
        AuditAction.CONNECTOR_CREATE,
        AuditAction.CONNECTOR_UPDATE,
        AuditAction.CONNECTOR_DISABLE,
        AuditAction.CONNECTOR_DELETE,
    ]
    # The entry outlives the connector and names what changed, never the secret's value.
    assert actions[1].details["changed"] == ["name"]
    assert actions[3].target_label == "Production EU"
    secret = connector_user.credentials.secret_access_key
    assert all(secret not in str(e.details) for e in actions)


def test_policy_edits_are_audited(operator):
    policy = policy_services.policy_save(
        policy=None, data={"name": "Root sign-ins", "severity": "high"}, by=operator
    )
    policy_services.policy_save(policy=policy, data={"severity": "low"}, by=operator)
    policy_services.policy_set_enabled(policy=policy, enabled=False, by=operator)
    policy_services.policy_delete(policy=policy, by=operator)
    recorded = list(AuditEntry.objects.filter(target_type="policy").order_by("id"))
    assert [e.action for e in recorded] == [
        AuditAction.POLICY_CREATE,
        AuditAction.POLICY_UPDATE,
        AuditAction.POLICY_DISABLE,
        AuditAction.POLICY_DELETE,
    ]
    assert recorded[1].details == {"changed": ["severity"]}
    assert {e.actor for e in recorded} == {operator}


def test_alert_triage_is_audited(operator, admin):
    alert = make_alert()
    alert_services.alert_assign(alert=alert, assignee=admin, by=operator)
    alert_services.alert_set_status(alert=alert, status="in_progress", by=operator)
    alert_services.alert_comment(alert=alert, by=operator, text="Looking at it.")
    alert_services.alert_resolve(alert=alert, by=operator, classification="benign", comment="Expected.")
    alert_services.alert_reopen(alert=alert, by=operator)
    recorded = list(AuditEntry.objects.filter(target_type="alert", target_id=str(alert.pk)).order_by("id"))
    assert [e.action for e in recorded] == [
        AuditAction.ALERT_ASSIGN,
        AuditAction.ALERT_SET_STATUS,
        AuditAction.ALERT_COMMENT,
        AuditAction.ALERT_RESOLVE,
        AuditAction.ALERT_REOPEN,
    ]
    assert recorded[0].details == {"assignee": admin.username}
    assert recorded[3].details == {"classification": "Benign true positive"}


def test_bulk_triage_records_one_entry_per_alert(operator):
    alerts = [make_alert(i) for i in range(3)]
    assert alert_services.alerts_dismiss(alerts=alerts, by=operator, comment="Noise.") == 3
    assert entries(AuditAction.ALERT_RESOLVE).count() == 3


def test_governance_hook_records_the_run(operator):
    from governance.models import GovernanceRun

    run = GovernanceRun.objects.create(action="s3_make_private", target_type="bucket", target="public-data")
    entry = audit_governance_run(run=run, action=AuditAction.GOVERNANCE_RUN, actor=operator)
    assert entry.target_type == "governancerun"
    assert entry.details["action"] == "s3_make_private"
    assert entry.details["target"] == "public-data"


def test_a_change_that_rolls_back_leaves_no_entry(admin):
    with pytest.raises(Exception, match="own account"):
        user_services.user_set_active(user=admin, active=False, by=admin)
    assert not entries(AuditAction.USER_DISABLE).exists()


# The page


@pytest.fixture
def logged():
    now = timezone.now()
    rows = [
        ("alice-admin", AuditAction.CONNECTOR_DELETE, "Production", now - timedelta(days=3)),
        ("oscar-operator", AuditAction.POLICY_UPDATE, "Root sign-ins", now - timedelta(hours=1)),
        ("mallory", AuditAction.SIGN_IN_FAILED, "mallory", now),
    ]
    for actor, action, target, at in rows:
        entry = audit_record(action=action, target=target, actor_name=actor)
        AuditEntry.objects.filter(pk=entry.pk).update(at=at, ip="192.0.2.1")
    return now


@pytest.mark.parametrize("role", ["admin", "operator", "reader"])
def test_every_role_reads_the_audit_log(request, client_for, logged, role):
    response = client_for(request.getfixturevalue(role)).get(reverse("defender:audit_log"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Root sign-ins" in body and "Connected app deleted" in body and "192.0.2.1" in body


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("defender:audit_log"))
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_user_without_a_role_is_refused(client_for, django_user_model):
    nobody = django_user_model.objects.create_user("nobody", password=PASSWORD)
    assert client_for(nobody).get(reverse("defender:audit_log")).status_code == 403


def test_filters_by_actor_action_and_date(client_for, reader, logged):
    client = client_for(reader)
    url = reverse("defender:audit_log")

    def targets(**params) -> set[str]:
        page = client.get(url, params).context["page"]
        return {e.target_label for e in page if e.action != AuditAction.SIGN_IN}

    assert targets(actor="oscar") == {"Root sign-ins"}
    assert targets(action=AuditAction.SIGN_IN_FAILED) == {"mallory"}
    today = timezone.localdate(logged)
    assert targets(
        since=(today - timedelta(days=4)).isoformat(), until=(today - timedelta(days=2)).isoformat()
    ) == {"Production"}
    response = client.get(url, {"since": today.isoformat(), "until": (today - timedelta(days=1)).isoformat()})
    assert "The start date is after the end date." in response.content.decode()


def test_audit_log_is_in_the_settings_navigation(client_for, reader):
    assert reverse("defender:audit_log").encode() in client_for(reader).get("/").content
