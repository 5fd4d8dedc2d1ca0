"""Every governance action against the local AWS emulator (a real moto server), through the services
a person, the API and a policy use: create the run, execute it as the worker does, revert it."""

import json

import pytest
from django.core.exceptions import ValidationError

from connectors.models import Connector, IamUser
from governance import services
from governance.actions.users import REVOKE_POLICY_NAME
from governance.models import GovernanceRun
from tests.governance.conftest import COLLABORATOR_ID

pytestmark = pytest.mark.django_db

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def _run(action: str, connector, target: str, **parameters) -> GovernanceRun:
    run = services.run_create(action_key=action, connector=connector, target=target, parameters=parameters)
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def _revert(run: GovernanceRun, by) -> GovernanceRun:
    services.run_request_revert(run=run, by=by)
    services.run_revert(run_id=run.pk)
    run.refresh_from_db()
    return run


def _uris(acl: dict) -> set[str]:
    return {g["Grantee"].get("URI") for g in acl["Grants"]} - {None}


def test_make_private_removes_public_grants_keeps_owner_and_revert_restores_the_exact_acl(
    connector, s3, public_bucket, operator
):
    before = s3.get_bucket_acl(Bucket=public_bucket)
    assert _uris(before) == {ALL_USERS, AUTHENTICATED}

    run = _run("s3_make_private", connector, public_bucket)

    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    assert run.attempts == 1 and run.request_id and run.finished_at
    after = s3.get_bucket_acl(Bucket=public_bucket)
    assert _uris(after) == set()
    assert after["Owner"] == before["Owner"]
    kept = {(g["Grantee"].get("ID"), g["Permission"]) for g in after["Grants"]}
    assert kept == {(before["Owner"]["ID"], "FULL_CONTROL"), (COLLABORATOR_ID, "READ")}
    assert s3.get_public_access_block(Bucket=public_bucket)["PublicAccessBlockConfiguration"][
        "BlockPublicAcls"
    ]
    assert "everyone (AllUsers) READ" in run.summary

    run = _revert(run, operator)

    assert run.status == GovernanceRun.Status.REVERTED and run.reverted_by == operator
    restored = s3.get_bucket_acl(Bucket=public_bucket)
    assert restored["Owner"] == before["Owner"]
    assert sorted(map(json.dumps, restored["Grants"])) == sorted(map(json.dumps, before["Grants"]))
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchPublicAccessBlockConfiguration"):
        s3.get_public_access_block(Bucket=public_bucket)


def test_a_reverted_run_cannot_be_reverted_again(connector, public_bucket, operator):
    run = _revert(_run("s3_make_private", connector, public_bucket), operator)
    with pytest.raises(ValidationError):
        services.run_request_revert(run=run, by=operator)


def test_remove_collaborator_removes_only_that_grantee_and_reverts(connector, s3, public_bucket, operator):
    before = s3.get_bucket_acl(Bucket=public_bucket)

    run = _run("s3_remove_collaborator", connector, public_bucket, grantee=COLLABORATOR_ID)

    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    grantees = {
        g["Grantee"].get("ID") or g["Grantee"].get("URI")
        for g in s3.get_bucket_acl(Bucket=public_bucket)["Grants"]
    }
    assert grantees == {before["Owner"]["ID"], ALL_USERS, AUTHENTICATED}

    _revert(run, operator)
    assert len(s3.get_bucket_acl(Bucket=public_bucket)["Grants"]) == len(before["Grants"])


def test_remove_collaborator_refuses_the_owner_and_unknown_grantees(connector, s3, public_bucket):
    owner = s3.get_bucket_acl(Bucket=public_bucket)["Owner"]["ID"]
    run = _run("s3_remove_collaborator", connector, public_bucket, grantee=owner)
    assert run.status == GovernanceRun.Status.FAILED and "cannot be removed" in run.error
    run = _run("s3_remove_collaborator", connector, public_bucket, grantee="nobody@example.com")
    assert run.status == GovernanceRun.Status.FAILED and "has no grant" in run.error
    with pytest.raises(ValidationError, match="Name the collaborator"):
        services.run_create(action_key="s3_remove_collaborator", connector=connector, target=public_bucket)


def test_missing_bucket_fails_at_once_in_plain_words(connector):
    run = _run("s3_make_private", connector, "no-such-bucket")
    assert run.status == GovernanceRun.Status.FAILED
    assert run.attempts == 1
    assert run.error.startswith("Not found: the bucket no longer exists")


def test_bucket_actions_need_data_governance(connector, public_bucket):
    connector.governance_enabled = False
    connector.governance_reason = "s3:PutBucketAcl is not allowed by the IAM policies of defender-readonly."
    connector.save()
    with pytest.raises(ValidationError, match="Data governance is disabled for Production: s3:PutBucketAcl"):
        services.run_create(action_key="s3_make_private", connector=connector, target=public_bucket)


@pytest.fixture
def alice(iam):
    """An IAM user with a console password and two access keys, one already inactive."""
    user = iam.create_user(UserName="alice", Tags=[{"Key": "email", "Value": "alice@example.com"}])["User"]
    iam.create_login_profile(UserName="alice", Password="Sup3r-secret-pass!")
    active = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    inactive = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="alice", AccessKeyId=inactive, Status="Inactive")
    return {"arn": user["Arn"], "active": active, "inactive": inactive}


def _key_status(iam) -> dict[str, str]:
    return {
        k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    }


def test_suspend_deactivates_keys_and_removes_the_password_and_revert_reactivates_keys(
    connector, iam, alice, operator
):
    run = _run("user_suspend", connector, alice["arn"])

    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    assert set(_key_status(iam).values()) == {"Inactive"}
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName="alice")
    assert run.state["deactivated_keys"] == [alice["active"]]

    _revert(run, operator)

    # Only the key the suspension turned off comes back.
    assert _key_status(iam) == {alice["active"]: "Active", alice["inactive"]: "Inactive"}


def test_user_actions_accept_a_bare_user_name(connector, iam, alice):
    run = _run("user_suspend", connector, "alice")
    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    assert _key_status(iam)[alice["active"]] == "Inactive"


def test_require_sign_in_attaches_the_token_issue_time_deny_policy(connector, iam, alice, operator):
    run = _run("user_require_sign_in", connector, alice["arn"])

    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    document = iam.get_user_policy(UserName="alice", PolicyName=REVOKE_POLICY_NAME)["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*" and statement["Resource"] == "*"
    assert "aws:TokenIssueTime" in statement["Condition"]["DateLessThan"]

    _revert(run, operator)
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == []


def test_user_actions_refuse_a_principal_that_is_not_an_iam_user(connector):
    run = _run("user_suspend", connector, "arn:aws:sts::123456789012:assumed-role/Admin/bob")
    assert run.status == GovernanceRun.Status.FAILED
    assert "is not an IAM user" in run.error


def test_notify_emails_the_address_of_the_iam_email_tag(connector, alice, mailoutbox):
    IamUser.objects.create(
        connector=connector, user_name="alice", arn=alice["arn"], email="alice@example.com"
    )
    run = _run("user_notify", connector, alice["arn"], message="Please rotate your keys.")
    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    (mail,) = mailoutbox
    assert mail.to == ["alice@example.com"]
    assert "alice" in mail.subject and "Please rotate your keys." in mail.body


def test_notify_without_an_address_fails_saying_what_to_do(connector, alice, mailoutbox):
    run = _run("user_notify", connector, alice["arn"])
    assert run.status == GovernanceRun.Status.FAILED
    assert "No email address is known for alice" in run.error
    assert mailoutbox == []


def test_access_denied_fails_the_run_at_once_without_retry(aws, read_only_user, iam, alice):
    connector = Connector(
        name="Read only",
        status=Connector.Status.CONNECTED,
        account_id="123456789012",
        access_key_id=read_only_user.credentials.access_key_id,
    )
    connector.secret_access_key = read_only_user.credentials.secret_access_key
    connector.save()
    aws.enable_auth()

    run = _run("user_suspend", connector, alice["arn"])

    assert run.status == GovernanceRun.Status.FAILED
    assert run.attempts == 1
    assert run.error.startswith(
        "Access denied: the connected account's credentials are not allowed iam:UpdateAccessKey."
    )
    aws.disable_auth()
    assert _key_status(iam)[alice["active"]] == "Active"


def test_transient_errors_go_back_to_pending_with_backoff_then_fail_when_attempts_run_out(
    connector, settings, public_bucket
):
    settings.GOVERNANCE_MAX_ATTEMPTS = 2
    settings.GOVERNANCE_RETRY_SECONDS = 7
    # Nothing listens there: every call fails to connect, as during a network outage.
    connector.endpoint_url = "http://127.0.0.1:9"
    connector.save()
    run = services.run_create(action_key="s3_make_private", connector=connector, target=public_bucket)

    with pytest.raises(services.RetryLater) as later:
        services.run_execute(run_id=run.pk)
    assert later.value.countdown == 7
    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.PENDING and run.attempts == 1
    assert "Could not reach AWS" in run.error

    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.FAILED and run.attempts == 2
    assert run.error.endswith("Gave up after 2 attempts.")

    services.run_retry(run=run, by=None)
    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.PENDING and run.attempts == 0


def test_a_claimed_run_is_not_executed_again(connector, public_bucket):
    run = _run("s3_make_private", connector, public_bucket)
    assert services.run_execute(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.attempts == 1


def test_janitor_fails_only_runs_stuck_in_running_and_never_runs_them_again(
    connector, public_bucket, settings
):
    from datetime import timedelta

    from django.utils import timezone

    stuck = services.run_create(action_key="s3_make_private", connector=connector, target=public_bucket)
    recent = services.run_create(action_key="s3_make_private", connector=connector, target=public_bucket)
    long_ago = timezone.now() - timedelta(seconds=settings.GOVERNANCE_STUCK_SECONDS + 60)
    GovernanceRun.objects.filter(pk=stuck.pk).update(status="running", started_at=long_ago, attempts=1)
    GovernanceRun.objects.filter(pk=recent.pk).update(status="running", started_at=timezone.now(), attempts=1)

    assert services.runs_fail_stuck() == 1

    stuck.refresh_from_db()
    assert (stuck.status, stuck.error) == (GovernanceRun.Status.FAILED, services.STUCK_MESSAGE)
    assert stuck.finished_at is not None
    assert GovernanceRun.objects.get(pk=recent.pk).status == GovernanceRun.Status.RUNNING
    assert services.run_execute(run_id=stuck.pk) is None
    assert services.runs_fail_stuck() == 0
