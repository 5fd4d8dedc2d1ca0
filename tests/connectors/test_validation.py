"""Validation against the local AWS emulator with IAM authorization enforced."""

import pytest

from connectors import validation
from connectors.aws import AwsCredentials
from connectors.iam_policies import GOVERNANCE_ACTIONS


def statuses(report) -> dict[str, str]:
    return {check.key: check.status for check in report.checks}


def test_seed_policy_passes_everything_with_governance(aws, connector_user):
    aws.enable_auth()
    report = validation.validate(connector_user.credentials)
    assert report.ok
    assert report.account_id == "123456789012"
    assert report.caller_arn == connector_user.arn
    assert set(statuses(report).values()) == {"passed"}
    assert report.governance_enabled
    assert report.logs_all_regions is True


def test_read_only_policy_connects_with_governance_disabled(aws, read_only_user):
    aws.enable_auth()
    report = validation.validate(read_only_user.credentials)
    assert report.ok
    assert not report.governance_enabled
    governance = next(c for c in report.checks if c.key == "s3:PutBucketAcl")
    assert governance.status == "warning"
    assert "Governance disabled" in governance.detail


def test_bogus_key_fails_identity_and_nothing_else_runs(aws, seeded_account):
    aws.enable_auth()
    report = validation.validate(
        AwsCredentials("AKIAZZZZZZZZZZZZZZZZ", "not-a-real-secret-key-at-all-00000000000")
    )
    assert not report.ok
    identity = report.checks[0]
    assert identity.status == "failed"
    assert identity.error_code == "InvalidClientTokenId"
    assert "does not recognise this access key ID" in identity.detail
    assert all(c.status == "not_run" for c in report.checks[1:])


def test_wrong_secret_says_the_secret_does_not_match(aws, connector_user):
    aws.enable_auth()
    wrong = AwsCredentials(connector_user.credentials.access_key_id, "x" * 40)
    report = validation.validate(wrong)
    assert report.checks[0].error_code == "SignatureDoesNotMatch"
    assert "secret access key does not belong" in report.checks[0].detail


def test_missing_permission_is_named_with_the_aws_error(aws, make_iam_user, seeded_account):
    user = make_iam_user("no-lookup", [a for a in GOVERNANCE_ACTIONS if a != "cloudtrail:LookupEvents"])
    aws.enable_auth()
    report = validation.validate(user.credentials)
    assert not report.ok
    failed = report.first_failure()
    assert failed.key == "cloudtrail:LookupEvents"
    assert failed.error_code == "AccessDenied" or failed.error_code.startswith("AccessDenied")
    assert "Missing permission cloudtrail:LookupEvents" in failed.detail
    assert user.arn in failed.detail
    assert statuses(report)["iam:ListUsers"] == "passed"


def test_unreachable_endpoint_is_a_network_error(db):
    report = validation.validate(
        AwsCredentials("AKIAIOSFODNN7EXAMPLE", "x" * 40), endpoint_url="http://127.0.0.1:9"
    )
    assert not report.ok
    assert "Could not reach http://127.0.0.1:9" in report.checks[0].detail


def test_role_assumption_with_external_id(aws, make_iam_user, seeded_account, monkeypatch):
    from tests.aws_fixtures import aws_client

    iam = aws_client("iam", aws.endpoint_url)
    iam.create_role(
        RoleName="DefenderAudit",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}',
    )
    import json

    from connectors.iam_policies import policy_document

    iam.put_role_policy(
        RoleName="DefenderAudit",
        PolicyName="audit",
        PolicyDocument=json.dumps(policy_document(GOVERNANCE_ACTIONS)),
    )
    portal = make_iam_user("portal-base", ["sts:AssumeRole"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", portal.credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", portal.credentials.secret_access_key)
    aws.enable_auth()
    report = validation.validate(
        AwsCredentials(role_arn="arn:aws:iam::123456789012:role/DefenderAudit", external_id="abc123")
    )
    assert report.ok, report.summary()
    assert ":assumed-role/DefenderAudit/" in report.caller_arn
    assert report.governance_enabled


@pytest.mark.parametrize(
    ("documents", "allowed"),
    [
        ([{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}], True),
        ([{"Statement": [{"Effect": "Allow", "Action": ["s3:Get*"], "Resource": "*"}]}], False),
        (
            [
                {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                {"Statement": {"Effect": "Deny", "Action": "s3:PutBucketAcl", "Resource": "*"}},
            ],
            False,
        ),
        (
            [{"Statement": [{"Effect": "Allow", "Action": "s3:putbucketacl", "Resource": "arn:aws:s3:::*"}]}],
            True,
        ),
    ],
)
def test_policy_evaluation(documents, allowed):
    assert validation.policies_allow(documents, "s3:PutBucketAcl") is allowed
