"""CloudTrail normalization on recorded-shape records (tests/fixtures/cloudtrail/) and broken ones."""

import copy
import gzip
import io
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from connectors.ingestion import normalize as module
from connectors.ingestion.normalize import (
    FIELD_LIMITS,
    FIELD_NAMES,
    BadLine,
    MalformedRecord,
    NormalizedActivity,
    is_administrative,
    iter_records,
    normalize,
    normalize_batch,
    principal_key,
    service_of,
)
from connectors.models import Activity

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cloudtrail"
FIXTURE_NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))


def load(name: str) -> dict:
    return orjson.loads((FIXTURES / f"{name}.json").read_bytes())


def all_records() -> list[dict]:
    return [load(name) for name in FIXTURE_NAMES]


def assert_valid_row(activity: NormalizedActivity) -> None:
    """The model's own validation accepts the fields. (mfa_used is left out: the column is
    BooleanField(null=True) without blank=True, so full_clean refuses None that the database takes.)"""
    row = Activity(**activity.as_fields())
    row.full_clean(exclude=["connector", "mfa_used"], validate_unique=False, validate_constraints=False)


def rejection(record) -> str:
    with pytest.raises(MalformedRecord) as caught:
        normalize(record)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


# --------------------------------------------------------------------------------------------------
# The output fits the Activity model


ENRICHMENT = {"country", "city", "latitude", "longitude", "asn", "isp", "ip_category", "ip_tags"}


def test_fields_are_the_activity_model_fields_minus_connector_ingested_at_and_enrichment():
    model_fields = {field.name for field in Activity._meta.concrete_fields}
    assert set(FIELD_NAMES) == model_fields - {"id", "connector", "ingested_at"} - ENRICHMENT
    assert len(FIELD_NAMES) == len(set(FIELD_NAMES))


def test_length_limits_follow_the_model():
    for name, limit in FIELD_LIMITS.items():
        assert Activity._meta.get_field(name).max_length == limit, name


def test_normalized_activity_is_frozen_and_as_fields_is_shallow():
    activity = normalize(load("iam_user_api_call"))
    with pytest.raises(AttributeError):
        activity.event_name = "Other"  # type: ignore[misc]
    fields = activity.as_fields()
    assert list(fields) == list(FIELD_NAMES)
    assert fields["raw"] is activity.raw


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_makes_a_valid_activity(name):
    activity = normalize(load(name))
    assert_valid_row(activity)


# --------------------------------------------------------------------------------------------------
# Recorded shapes, every field

SSO_ROLE = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"

EXPECTED = {
    "iam_user_api_call": {
        "event_id": "5b7f1c2e-8a4d-4e6f-9b1a-3c2d4e5f6a7b",
        "event_time": datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC),
        "event_name": "AttachUserPolicy",
        "event_source": "iam.amazonaws.com",
        "service": "iam",
        "event_type": "AwsApiCall",
        "region": "us-east-1",
        "recipient_account_id": "123456789012",
        "source_ip": "203.0.113.10",
        "ip_address": "203.0.113.10",
        "principal": "arn:aws:iam::123456789012:user/alice",
        "principal_name": "alice",
        "principal_type": "IAMUser",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "read_only": False,
        "administrative": True,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": None,
        "resources": [],
    },
    "assumed_role_sso": {
        "event_id": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
        "event_time": datetime(2026, 11, 28, 9, 30, 15, tzinfo=UTC),
        "event_name": "AuthorizeSecurityGroupIngress",
        "event_source": "ec2.amazonaws.com",
        "service": "ec2",
        "event_type": "AwsApiCall",
        "region": "eu-west-1",
        "recipient_account_id": "123456789012",
        "source_ip": "198.51.100.23",
        "ip_address": "198.51.100.23",
        "principal": f"arn:aws:sts::123456789012:assumed-role/{SSO_ROLE}/alice@example.com",
        "principal_name": "alice@example.com",
        "principal_type": "AssumedRole",
        "access_key_id": "ASIAYJ6EXAMPLE5SSO01",
        "read_only": False,
        "administrative": True,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": False,
        "resources": [],
    },
    "assumed_role_saml": {
        "event_id": "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d",
        "event_time": datetime(2026, 11, 27, 16, 5, 42, 517000, tzinfo=UTC),
        "event_name": "ListBuckets",
        "event_source": "s3.amazonaws.com",
        "service": "s3",
        "event_type": "AwsApiCall",
        "region": "us-east-1",
        "recipient_account_id": "444455556666",
        "source_ip": "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "ip_address": "2001:db8:85a3::8a2e:370:7334",
        "principal": "arn:aws:sts::444455556666:assumed-role/ADFS-Admins/bob@corp.example.com",
        "principal_name": "bob@corp.example.com",
        "principal_type": "AssumedRole",
        "access_key_id": "ASIAD35QRSTUVWSAML01",
        "read_only": True,
        "administrative": False,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": False,
        "resources": [],
    },
    "federated_user": {
        "event_id": "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
        "event_time": datetime(2026, 11, 28, 8, 1, 27, tzinfo=UTC),
        "event_name": "StopLogging",
        "event_source": "cloudtrail.amazonaws.com",
        "service": "cloudtrail",
        "event_type": "AwsApiCall",
        "region": "us-east-1",
        "recipient_account_id": "123456789012",
        "source_ip": "192.0.2.77",
        "ip_address": "192.0.2.77",
        "principal": "arn:aws:sts::123456789012:federated-user/carol",
        "principal_name": "carol",
        "principal_type": "FederatedUser",
        "access_key_id": "ASIAIOSFODNN7FED0001",
        "read_only": False,
        "administrative": True,  # a failed write is still an administrative activity
        "succeeded": False,
        "error_code": "AccessDenied",
        "error_message": (
            "User: arn:aws:sts::123456789012:federated-user/carol is not authorized to perform: "
            "cloudtrail:StopLogging on resource: arn:aws:cloudtrail:us-east-1:123456789012:trail/"
            "management-events because no identity-based policy allows the cloudtrail:StopLogging action"
        ),
        "console_login": "",
        "mfa_used": False,
        "resources": [],
    },
    "root_console_login_mfa": {
        "event_id": "deb1e1f9-c99b-4612-8e9f-21f93b5d79c0",
        "event_time": datetime(2026, 11, 28, 6, 45, 9, tzinfo=UTC),
        "event_name": "ConsoleLogin",
        "event_source": "signin.amazonaws.com",
        "service": "signin",
        "event_type": "AwsConsoleSignIn",
        "region": "us-east-1",
        "recipient_account_id": "123456789012",
        "source_ip": "192.0.2.44",
        "ip_address": "192.0.2.44",
        "principal": "arn:aws:iam::123456789012:root",
        "principal_name": "root",
        "principal_type": "Root",
        "access_key_id": "",
        "read_only": False,
        "administrative": False,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "Success",
        "mfa_used": True,
        "resources": [],
    },
    "iam_user_console_login_failure": {
        "event_id": "d38ce1b3-4575-4cb8-a632-611b8243bfc3",
        "event_time": datetime(2026, 11, 28, 11, 32, 11, tzinfo=UTC),
        "event_name": "ConsoleLogin",
        "event_source": "signin.amazonaws.com",
        "service": "signin",
        "event_type": "AwsConsoleSignIn",
        "region": "eu-central-1",
        "recipient_account_id": "123456789012",
        "source_ip": "198.51.100.201",
        "ip_address": "198.51.100.201",
        # A failed sign-in has no arn: the key is built so that it matches dave's successful ones.
        "principal": "arn:aws:iam::123456789012:user/dave",
        "principal_name": "dave",
        "principal_type": "IAMUser",
        "access_key_id": "",
        "read_only": False,
        "administrative": False,
        "succeeded": False,
        "error_code": "",
        "error_message": "Failed authentication",
        "console_login": "Failure",
        "mfa_used": False,
        "resources": [],
    },
    "aws_service_assume_role": {
        "event_id": "f6e5d4c3-b2a1-4098-8765-43210fedcba9",
        "event_time": datetime(2026, 11, 28, 10, 14, 2, tzinfo=UTC),
        "event_name": "AssumeRole",
        "event_source": "sts.amazonaws.com",
        "service": "sts",
        "event_type": "AwsApiCall",
        "region": "eu-west-1",
        "recipient_account_id": "123456789012",
        "source_ip": "ec2.amazonaws.com",
        "ip_address": None,
        "principal": "ec2.amazonaws.com",
        "principal_name": "ec2.amazonaws.com",
        "principal_type": "AWSService",
        "access_key_id": "",
        "read_only": True,
        "administrative": False,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": None,
        "resources": [
            {
                "type": "AWS::IAM::Role",
                "name": "arn:aws:iam::123456789012:role/web-server",
                "account_id": "123456789012",
            }
        ],
    },
    "kms_rotate_key_service_event": {
        "event_id": "a24b3967-ddad-417f-9b22-2332b918db06",
        "event_time": datetime(2026, 1, 14, 1, 41, 59, tzinfo=UTC),
        "event_name": "RotateKey",
        "event_source": "kms.amazonaws.com",
        "service": "kms",
        "event_type": "AwsServiceEvent",
        "region": "us-west-2",
        "recipient_account_id": "111122223333",
        "source_ip": "AWS Internal",
        "ip_address": None,
        "principal": "AWS Internal",
        "principal_name": "AWS Internal",
        "principal_type": "AWSService",  # no type in the record, but invokedBy says who
        "access_key_id": "",
        "read_only": False,
        "administrative": False,  # a service event, not an API call
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": None,
        "resources": [
            {
                "type": "AWS::KMS::Key",
                "name": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "account_id": "111122223333",
            }
        ],
    },
    "aws_account_cross_account": {
        "event_id": "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a",
        "event_time": datetime(2026, 11, 28, 12, 7, 39, tzinfo=UTC),
        "event_name": "AssumeRole",
        "event_source": "sts.amazonaws.com",
        "service": "sts",
        "event_type": "AwsApiCall",
        "region": "us-east-1",
        "recipient_account_id": "111122223333",
        "source_ip": "192.0.2.101",
        "ip_address": "192.0.2.101",
        "principal": "account:777788889999:AIDAQRSTUVWXYZEXAMPLE",
        "principal_name": "777788889999",
        "principal_type": "AWSAccount",
        "access_key_id": "",
        "read_only": True,
        "administrative": False,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": None,
        "resources": [
            {
                "type": "AWS::IAM::Role",
                "name": "arn:aws:iam::111122223333:role/EC2-dev",
                "account_id": "111122223333",
            }
        ],
    },
    "identity_center_user": {
        "event_id": "b7c8d9e0-f1a2-4b3c-9d4e-5f6a7b8c9d0e",
        "event_time": datetime(2026, 11, 28, 13, 20, 5, tzinfo=UTC),
        "event_name": "ListApplications",
        "event_source": "sso.amazonaws.com",
        "service": "sso",
        "event_type": "AwsApiCall",
        "region": "us-east-1",
        "recipient_account_id": "111122223333",
        "source_ip": "203.0.113.55",
        "ip_address": "203.0.113.55",
        "principal": "identitycenter:94d00cd8-e9e6-4810-b177-b08e84775435",
        "principal_name": "94d00cd8-e9e6-4810-b177-b08e84775435",
        "principal_type": "IdentityCenterUser",
        "access_key_id": "",
        "read_only": True,
        "administrative": False,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": None,
        "resources": [],
    },
    "ec2_run_instances": {
        "event_id": "0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b",
        "event_time": datetime(2026, 11, 28, 14, 2, 33, tzinfo=UTC),
        "event_name": "RunInstances",
        "event_source": "ec2.amazonaws.com",
        "service": "ec2",
        "event_type": "AwsApiCall",
        "region": "eu-west-1",
        "recipient_account_id": "123456789012",
        "source_ip": "198.51.100.8",
        "ip_address": "198.51.100.8",
        "principal": "arn:aws:sts::123456789012:assumed-role/deploy/gitlab-ci-4711",
        "principal_name": "gitlab-ci-4711",
        "principal_type": "AssumedRole",
        "access_key_id": "ASIAEXAMPLEDEPLOY001",
        "read_only": False,
        "administrative": True,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": False,
        "resources": [
            {"type": "AWS::EC2::Instance", "name": "i-0a1b2c3d4e5f60001", "account_id": "123456789012"},
            {"type": "AWS::EC2::Instance", "name": "i-0a1b2c3d4e5f60002", "account_id": "123456789012"},
        ],
    },
    "ec2_terminate_instances": {
        "event_id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
        "event_time": datetime(2026, 11, 28, 15, 13, 41, tzinfo=UTC),
        "event_name": "TerminateInstances",
        "event_source": "ec2.amazonaws.com",
        "service": "ec2",
        "event_type": "AwsApiCall",
        "region": "eu-west-1",
        "recipient_account_id": "123456789012",
        "source_ip": "203.0.113.64",
        "ip_address": "203.0.113.64",
        "principal": "arn:aws:iam::123456789012:user/Mateo",
        "principal_name": "Mateo",
        "principal_type": "IAMUser",
        "access_key_id": "AKIAI44QH8DHBEXAMPLE",
        "read_only": False,
        "administrative": True,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": True,
        # Named in the request and again in the response: listed once.
        "resources": [
            {"type": "AWS::EC2::Instance", "name": "i-0a1b2c3d4e5f60001", "account_id": "123456789012"},
            {"type": "AWS::EC2::Instance", "name": "i-0a1b2c3d4e5f60002", "account_id": "123456789012"},
        ],
    },
    "s3_put_bucket_acl": {
        "event_id": "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a",
        "event_time": datetime(2026, 11, 28, 16, 40, 2, tzinfo=UTC),
        "event_name": "PutBucketAcl",
        "event_source": "s3.amazonaws.com",
        "service": "s3",
        "event_type": "AwsApiCall",
        "region": "us-east-1",
        "recipient_account_id": "123456789012",
        "source_ip": "203.0.113.10",
        "ip_address": "203.0.113.10",
        "principal": "arn:aws:iam::123456789012:user/alice",
        "principal_name": "alice",
        "principal_type": "IAMUser",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "read_only": False,
        "administrative": True,
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": None,
        # The resources entry (ARN) and requestParameters.bucketName name the same bucket.
        "resources": [{"type": "AWS::S3::Bucket", "name": "finance-reports", "account_id": "123456789012"}],
    },
    "s3_put_object_data_event": {
        "event_id": "7d6c5b4a-3928-4176-a5b4-c3d2e1f0a9b8",
        "event_time": datetime(2026, 11, 28, 2, 3, 17, tzinfo=UTC),
        "event_name": "PutObject",
        "event_source": "s3.amazonaws.com",
        "service": "s3",
        "event_type": "AwsApiCall",
        "region": "us-east-1",
        "recipient_account_id": "123456789012",
        "source_ip": "10.0.3.17",
        "ip_address": "10.0.3.17",
        "principal": "arn:aws:sts::123456789012:assumed-role/etl/etl-nightly",
        "principal_name": "etl-nightly",
        "principal_type": "AssumedRole",
        "access_key_id": "ASIAEXAMPLEETL000001",
        "read_only": False,
        "administrative": False,  # object-level data event
        "succeeded": True,
        "error_code": "",
        "error_message": "",
        "console_login": "",
        "mfa_used": False,
        "resources": [
            {
                "type": "AWS::S3::Object",
                "name": "arn:aws:s3:::finance-reports/2026/11/28/ledger.parquet",
                "account_id": "",
            },
            {"type": "AWS::S3::Bucket", "name": "finance-reports", "account_id": "123456789012"},
        ],
    },
}


def test_every_fixture_has_expectations():
    assert set(EXPECTED) == set(FIXTURE_NAMES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_fields(name):
    record = load(name)
    activity = normalize(record)
    expected = dict(EXPECTED[name])
    expected["user_agent"] = record["userAgent"]
    expected["request_parameters"] = record["requestParameters"]
    expected["raw"] = record
    assert activity.as_fields() == expected
    assert activity.event_time.tzinfo is UTC
    assert principal_key(record) == activity.principal


def test_normalize_does_not_change_the_record():
    record = load("ec2_terminate_instances")
    before = copy.deepcopy(record)
    normalize(record)
    assert record == before


# --------------------------------------------------------------------------------------------------
# Principals


def test_assumed_role_key_is_built_from_the_session_issuer_when_arn_is_missing():
    record = load("assumed_role_sso")
    del record["userIdentity"]["arn"]
    activity = normalize(record)
    # The role's path (aws-reserved/sso.amazonaws.com/...) is not part of an assumed-role ARN.
    assert activity.principal == f"arn:aws:sts::123456789012:assumed-role/{SSO_ROLE}/alice@example.com"
    assert activity.principal_name == "alice@example.com"
    assert activity.principal == normalize(load("assumed_role_sso")).principal


def test_assumed_role_keeps_the_partition_of_its_issuer():
    record = load("assumed_role_saml")
    del record["userIdentity"]["arn"]
    record["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = "arn:aws-cn:iam::444455556666:role/X"
    del record["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"]
    assert normalize(record).principal == "arn:aws-cn:sts::444455556666:assumed-role/X/bob@corp.example.com"


def test_assumed_role_without_arn_or_issuer_falls_back_to_its_principal_id():
    record = load("assumed_role_saml")
    del record["userIdentity"]["arn"]
    del record["userIdentity"]["sessionContext"]
    activity = normalize(record)
    assert activity.principal == "unknown:AROAD35QRSTUVWEXAMPLE:bob@corp.example.com"
    assert activity.principal_name == "bob@corp.example.com"
    assert activity.principal_type == "AssumedRole"


def test_failed_sign_in_with_an_unknown_user_name():
    record = load("iam_user_console_login_failure")
    record["userIdentity"] = {"type": "IAMUser", "accountId": "123456789012", "accessKeyId": ""}
    record["userIdentity"]["userName"] = "HIDDEN_DUE_TO_SECURITY_REASONS"
    activity = normalize(record)
    assert activity.principal == "arn:aws:iam::123456789012:user/HIDDEN_DUE_TO_SECURITY_REASONS"
    assert activity.principal_name == "HIDDEN_DUE_TO_SECURITY_REASONS"


def test_root_without_arn():
    record = load("root_console_login_mfa")
    del record["userIdentity"]["arn"]
    assert normalize(record).principal == "arn:aws:iam::123456789012:root"


def test_federated_user_without_arn():
    record = load("federated_user")
    del record["userIdentity"]["arn"]
    activity = normalize(record)
    assert activity.principal == "arn:aws:sts::123456789012:federated-user/carol"
    assert activity.principal_name == "carol"


def test_aws_account_without_principal_id():
    record = load("aws_account_cross_account")
    del record["userIdentity"]["principalId"]
    assert normalize(record).principal == "account:777788889999"


def test_aws_service_without_invoked_by_uses_the_calling_service():
    record = load("aws_service_assume_role")
    del record["userIdentity"]["invokedBy"]
    activity = normalize(record)
    assert (activity.principal, activity.principal_type) == ("ec2.amazonaws.com", "AWSService")


def test_identity_center_user_id_at_the_top_level():
    record = load("identity_center_user")
    record["userIdentity"] = {"type": "IdentityCenterUser", "accountId": "111122223333", "userId": "u-1"}
    assert normalize(record).principal == "identitycenter:u-1"


def test_unknown_identity_on_behalf_of_an_identity_center_user_shares_its_key():
    record = load("identity_center_user")
    record["userIdentity"] = {
        "type": "Unknown",
        "principalId": "example.com//S-1-5-21-1122334455-3652759393-4233131409-1126",
        "accountId": "111122223333",
        "userName": "bobsmith@example.com",
        "onBehalfOf": {
            "userId": "94d00cd8-e9e6-4810-b177-b08e84775435",
            "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-1234567890",
        },
    }
    activity = normalize(record)
    assert activity.principal == normalize(load("identity_center_user")).principal
    assert (activity.principal_name, activity.principal_type) == ("bobsmith@example.com", "Unknown")


def test_types_the_model_does_not_know_become_unknown():
    record = load("assumed_role_saml")
    record["userIdentity"] = {
        "type": "SAMLUser",
        "principalId": "SampleUkh1i4+ExamplexL/jEvs=:SamlExample",
        "userName": "SamlExample",
        "identityProvider": "bdGOnTesti4+ExamplexL/jEvs=",
    }
    activity = normalize(record)
    assert activity.principal == "unknown:SampleUkh1i4+ExamplexL/jEvs=:SamlExample"
    assert (activity.principal_name, activity.principal_type) == ("SamlExample", "Unknown")


@pytest.mark.parametrize("identity", [None, {}, {"type": None}, {"type": 7, "arn": ["x"]}])
def test_missing_or_empty_identity_is_unknown_in_the_recipient_account(identity):
    record = load("iam_user_api_call")
    if identity is None:
        del record["userIdentity"]
    else:
        record["userIdentity"] = identity
    activity = normalize(record)
    assert (activity.principal, activity.principal_name, activity.principal_type) == (
        "unknown:123456789012",
        "",
        "Unknown",
    )
    assert activity.access_key_id == ""


def test_principal_key_of_something_that_is_not_a_record():
    assert principal_key("nope") == ""
    assert principal_key({"userIdentity": "nope"}) == "unknown"


# --------------------------------------------------------------------------------------------------
# Flags


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("false", False), ("TRUE", True), (" False ", False)],
)
def test_read_only_flag(value, expected):
    record = load("iam_user_api_call")  # a write by its name
    record["readOnly"] = value
    assert normalize(record).read_only is expected


@pytest.mark.parametrize(
    ("event_name", "expected"),
    [
        ("GetBucketPolicy", True),
        ("ListUsers", True),
        ("DescribeInstances", True),
        ("HeadBucket", True),
        ("LookupEvents", True),
        ("CreateUser", False),
        ("PutBucketAcl", False),
        ("ConsoleLogin", False),
    ],
)
@pytest.mark.parametrize("flag", ["absent", None, "maybe", 1])
def test_read_only_is_inferred_from_the_event_name_without_a_usable_flag(event_name, expected, flag):
    record = load("iam_user_api_call")
    record["eventName"] = event_name
    if flag == "absent":
        del record["readOnly"]
    else:
        record["readOnly"] = flag
    activity = normalize(record)
    assert activity.read_only is expected
    assert activity.administrative is (not expected and event_name != "ConsoleLogin")


@pytest.mark.parametrize(
    ("event_name", "event_source", "read_only", "expected"),
    [
        ("CreateUser", "iam.amazonaws.com", False, True),
        ("CreateUser", "iam.amazonaws.com", True, False),
        ("StopLogging", "cloudtrail.amazonaws.com", False, True),
        ("AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", False, True),
        ("PutBucketAcl", "s3.amazonaws.com", False, True),
        ("CreateBucket", "s3.amazonaws.com", False, True),
        ("DeleteBucket", "s3.amazonaws.com", False, True),
        ("PutBucketPolicy", "s3.amazonaws.com", False, True),
        ("PutObjectLockConfiguration", "s3.amazonaws.com", False, True),
        ("PutObject", "s3.amazonaws.com", False, False),
        ("DeleteObject", "s3.amazonaws.com", False, False),
        ("DeleteObjects", "s3.amazonaws.com", False, False),
        ("CompleteMultipartUpload", "s3.amazonaws.com", False, False),
        ("ScheduleKeyDeletion", "kms.amazonaws.com", False, True),
        ("Decrypt", "kms.amazonaws.com", False, False),
        ("GenerateDataKey", "kms.amazonaws.com", False, False),
        ("CreatePolicy", "organizations.amazonaws.com", False, True),
        ("PutConfigurationRecorder", "config.amazonaws.com", False, True),
        ("DeleteDetector", "guardduty.amazonaws.com", False, True),
        ("UpdateFunctionCode20150331v2", "lambda.amazonaws.com", False, True),
        ("Invoke", "lambda.amazonaws.com", False, False),
        ("ModifyDBInstance", "rds.amazonaws.com", False, True),
        ("PutItem", "dynamodb.amazonaws.com", False, False),
        ("DeleteTable", "dynamodb.amazonaws.com", False, True),
        ("AssumeRole", "sts.amazonaws.com", False, False),
        ("AssumeRoleWithSAML", "sts.amazonaws.com", False, False),
        ("GetFederationToken", "sts.amazonaws.com", False, False),
        ("ConsoleLogin", "signin.amazonaws.com", False, False),
        ("SwitchRole", "signin.amazonaws.com", False, False),
        ("Federate", "portal.sso.amazonaws.com", False, False),
        ("CreatePermissionSet", "sso.amazonaws.com", False, True),
        ("SendCommand", "ssm.amazonaws.com", False, True),
        ("UpdateInstanceInformation", "ssm.amazonaws.com", False, False),
        ("CreateBrandNewThing", "newservice.amazonaws.com", False, True),
        ("", "iam.amazonaws.com", False, False),
    ],
)
def test_is_administrative(event_name, event_source, read_only, expected):
    assert is_administrative(event_name, event_source, read_only) is expected


def test_only_api_calls_are_administrative():
    record = load("iam_user_api_call")
    for event_type, expected in [
        ("AwsApiCall", True),
        (None, True),
        ("AwsServiceEvent", False),
        ("AwsConsoleSignIn", False),
        ("AwsVpceEvent", False),
    ]:
        record["eventType"] = event_type
        assert normalize(record).administrative is expected, event_type


def test_data_events_are_not_administrative():
    record = load("s3_put_bucket_acl")
    record["eventCategory"] = "Data"
    assert normalize(record).administrative is False
    record = load("s3_put_bucket_acl")
    record["managementEvent"] = False
    assert normalize(record).administrative is False


@pytest.mark.parametrize(
    ("event_source", "service"),
    [
        ("ec2.amazonaws.com", "ec2"),
        ("signin.amazonaws.com", "signin"),
        ("s3.amazonaws.com", "s3"),
        ("portal.sso.amazonaws.com", "portal.sso"),
        ("health.aws.amazon.com", "health.aws"),
        ("custom", "custom"),
        ("", ""),
        (None, ""),
        (["ec2.amazonaws.com"], ""),
    ],
)
def test_service_of(event_source, service):
    assert service_of(event_source) == service


# --------------------------------------------------------------------------------------------------
# Sign-ins, errors, MFA


def test_console_login_failure_without_error_message():
    record = load("iam_user_console_login_failure")
    del record["errorMessage"]
    activity = normalize(record)
    assert (activity.succeeded, activity.console_login, activity.error_message) == (False, "Failure", "")


def test_console_login_without_outcome_is_judged_by_its_error():
    record = load("iam_user_console_login_failure")
    del record["responseElements"]
    assert (normalize(record).succeeded, normalize(record).console_login) == (False, "Failure")
    record = load("root_console_login_mfa")
    record["responseElements"] = None
    assert (normalize(record).succeeded, normalize(record).console_login) == (True, "Success")


def test_console_login_with_an_error_code_failed():
    record = load("root_console_login_mfa")
    record["errorCode"] = "AccessDenied"
    assert (normalize(record).succeeded, normalize(record).console_login) == (False, "Failure")


def test_responses_that_are_not_console_logins_have_no_outcome():
    record = load("iam_user_api_call")
    record["responseElements"] = {"ConsoleLogin": "Failure"}
    activity = normalize(record)
    assert (activity.succeeded, activity.console_login) == (True, "")


@pytest.mark.parametrize(
    ("extra", "attributes", "expected"),
    [
        ({"MFAUsed": "Yes"}, None, True),
        ({"MFAUsed": "No"}, {"mfaAuthenticated": "true"}, False),
        ({"MFAUsed": "Maybe"}, {"mfaAuthenticated": "true"}, True),
        (None, {"mfaAuthenticated": "false"}, False),
        (None, {"mfaAuthenticated": True}, True),
        ("Yes", None, None),
        (None, {"mfaAuthenticated": "perhaps"}, None),
        (None, None, None),
    ],
)
def test_mfa_used(extra, attributes, expected):
    record = load("iam_user_api_call")
    if extra is not None:
        record["additionalEventData"] = extra
    if attributes is not None:
        record["userIdentity"]["sessionContext"] = {"attributes": attributes}
    assert normalize(record).mfa_used is expected


# --------------------------------------------------------------------------------------------------
# Addresses


@pytest.mark.parametrize(
    ("source", "ip_address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", None),
        ("ec2.amazonaws.com", None),
        ("AWS Internal", None),
        ("999.1.1.1", None),
        ("01.2.3.4", None),
        ("", None),
    ],
)
def test_ip_address_is_set_only_for_ip_addresses(source, ip_address):
    record = load("iam_user_api_call")
    record["sourceIPAddress"] = source
    activity = normalize(record)
    assert (activity.source_ip, activity.ip_address) == (source, ip_address)


def test_source_ip_of_the_wrong_type_is_absent():
    record = load("iam_user_api_call")
    record["sourceIPAddress"] = {"ip": "192.0.2.1"}
    activity = normalize(record)
    assert (activity.source_ip, activity.ip_address) == ("", None)


# --------------------------------------------------------------------------------------------------
# Times


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-28T10:00:00Z", datetime(2026, 11, 28, 10, 0, tzinfo=UTC)),
        ("2026-11-28T10:00:00.5Z", datetime(2026, 11, 28, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-28T10:00:00.123456789Z", datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-28T12:00:00+02:00", datetime(2026, 11, 28, 10, 0, tzinfo=UTC)),
        ("2026-11-28T10:00:00", datetime(2026, 11, 28, 10, 0, tzinfo=UTC)),
        ("2026-11-28 10:00:00Z", datetime(2026, 11, 28, 10, 0, tzinfo=UTC)),
    ],
)
def test_event_time(value, expected):
    record = load("iam_user_api_call")
    record["eventTime"] = value
    moment = normalize(record).event_time
    assert moment == expected
    assert moment.tzinfo is UTC


def test_event_time_given_as_a_datetime():
    record = load("iam_user_api_call")
    record["eventTime"] = datetime(2026, 11, 28, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    activity = normalize(record)
    assert activity.event_time == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    json.dumps(activity.raw)  # Django's JSONField encoder must be able to store raw


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-13-45", "eventTime '2026-13-45' is not a time"),
        ("2026-13-45T10:00:00Z", "eventTime '2026-13-45T10:00:00Z' is not a time"),
        ("2026-11-28T25:00:00Z", "eventTime '2026-11-28T25:00:00Z' is not a time"),
        ("2026-11-28", "eventTime '2026-11-28' is not a time"),
        ("yesterday", "eventTime 'yesterday' is not a time"),
        ("", "eventTime is empty"),
        (None, "eventTime is null"),
        (1764324000, "eventTime is not a string (got a number)"),
        (["2026-11-28T10:00:00Z"], "eventTime is not a string (got a list)"),
    ],
)
def test_bad_event_time(value, reason):
    record = load("iam_user_api_call")
    record["eventTime"] = value
    assert rejection(record) == reason


# --------------------------------------------------------------------------------------------------
# Broken records


@pytest.mark.parametrize("key", ["eventID", "eventTime", "eventName", "eventSource"])
def test_required_key_missing(key):
    record = load("iam_user_api_call")
    del record[key]
    assert rejection(record) == f"{key} is missing"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("eventID", 12345, "eventID is not a string (got a number)"),
        ("eventID", "", "eventID is empty"),
        ("eventName", 42, "eventName is not a string (got a number)"),
        ("eventName", True, "eventName is not a string (got a boolean)"),
        ("eventName", None, "eventName is null"),
        ("eventSource", ["iam.amazonaws.com"], "eventSource is not a string (got a list)"),
        ("eventSource", {"name": "iam"}, "eventSource is not a string (got an object)"),
    ],
)
def test_required_key_of_the_wrong_type(key, value, reason):
    record = load("iam_user_api_call")
    record[key] = value
    assert rejection(record) == reason


def test_lowercase_keys_are_rejected_naming_the_expected_key():
    record = load("iam_user_api_call")
    record["eventname"] = record.pop("eventName")
    assert (
        rejection(record)
        == "eventName is missing (the record has 'eventname': CloudTrail keys are camelCase)"
    )
    record = {key.lower(): value for key, value in load("iam_user_api_call").items()}
    assert rejection(record) == "eventID is missing (the record has 'eventid': CloudTrail keys are camelCase)"
    record = load("iam_user_api_call")
    record["event_time"] = record.pop("eventTime")
    assert (
        rejection(record)
        == "eventTime is missing (the record has 'event_time': CloudTrail keys are camelCase)"
    )


@pytest.mark.parametrize(
    ("value", "kind"), [("alice", "a string"), (["alice"], "a list"), (3, "a number"), (False, "a boolean")]
)
def test_user_identity_that_is_not_an_object(value, kind):
    record = load("iam_user_api_call")
    record["userIdentity"] = value
    assert rejection(record) == f"userIdentity is not an object (got {kind})"


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        (None, "null"),
        ("eventName: ConsoleLogin", "a string"),
        (42, "a number"),
        (1.5, "a number"),
        (True, "a boolean"),
        ([{"eventID": "x"}], "a list"),
        (b"{}", "bytes"),
        (object(), "object"),
    ],
)
def test_records_that_are_not_objects(record, kind):
    assert rejection(record) == f"the record is not a JSON object (got {kind})"


def test_other_fields_of_the_wrong_type_are_coerced_or_ignored():
    record = load("s3_put_bucket_acl")
    record.update(
        awsRegion=["us-east-1"],
        recipientAccountId=123456789012,
        userAgent={"agent": "x"},
        errorCode=403,
        errorMessage=None,
        eventType=7,
        additionalEventData="MFAUsed=Yes",
    )
    record["userIdentity"]["accessKeyId"] = None
    record["userIdentity"]["sessionContext"] = "none"
    activity = normalize(record)
    assert activity.region == ""
    assert activity.recipient_account_id == "123456789012"
    assert activity.user_agent == ""
    assert (activity.error_code, activity.error_message, activity.succeeded) == ("403", "", False)
    assert activity.event_type == "7"
    assert activity.access_key_id == ""
    assert activity.mfa_used is None


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ("arn:aws:s3:::finance-reports", [("AWS::S3::Bucket", "finance-reports")]),
        (
            {"type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:1:key/k"},
            [("AWS::KMS::Key", "arn:aws:kms:us-east-1:1:key/k"), ("AWS::S3::Bucket", "finance-reports")],
        ),
        ([None, 3, "x", {"ARN": 5}, {"type": "T"}], [("AWS::S3::Bucket", "finance-reports")]),
        (
            [{"type": "AWS::S3::Object", "ARNPrefix": "arn:aws:s3:::finance-reports/2026/"}],
            [
                ("AWS::S3::Object", "arn:aws:s3:::finance-reports/2026/"),
                ("AWS::S3::Bucket", "finance-reports"),
            ],
        ),
        (
            [{"type": "AWS::EC2::Instance", "ARN": "arn:aws:ec2:us-east-1:123456789012:instance/i-1"}],
            [("AWS::EC2::Instance", "i-1"), ("AWS::S3::Bucket", "finance-reports")],
        ),
    ],
)
def test_resources_of_odd_shapes(resources, expected):
    record = load("s3_put_bucket_acl")
    record["resources"] = resources
    found = normalize(record).resources
    assert [(item["type"], item["name"]) for item in found] == expected


def test_resources_named_by_the_request():
    record = load("iam_user_api_call")
    record["requestParameters"] = {
        "instanceId": "i-1",
        "instanceIds": ["i-2", "i-1", 7, None],
        "instancesSet": {"items": [{"instanceId": "i-3"}, {"imageId": "ami-1"}, "i-4"]},
        "bucketName": "logs",
    }
    record["responseElements"] = {"instancesSet": {"items": [{"instanceId": "i-3"}, {"instanceId": "i-5"}]}}
    names = [(item["type"], item["name"], item["account_id"]) for item in normalize(record).resources]
    assert names == [
        ("AWS::S3::Bucket", "logs", "123456789012"),
        ("AWS::EC2::Instance", "i-1", "123456789012"),
        ("AWS::EC2::Instance", "i-2", "123456789012"),
        ("AWS::EC2::Instance", "i-3", "123456789012"),
        ("AWS::EC2::Instance", "i-5", "123456789012"),
    ]


def test_resources_are_capped():
    record = load("ec2_terminate_instances")
    record["requestParameters"]["instancesSet"]["items"] = [{"instanceId": f"i-{n}"} for n in range(500)]
    assert len(normalize(record).resources) == module.MAX_RESOURCES


def test_long_strings_are_cut_to_the_column():
    record = load("assumed_role_sso")
    record["eventName"] = "E" * 1000
    record["awsRegion"] = "r" * 100
    record["userIdentity"]["arn"] = "arn:aws:sts::123456789012:assumed-role/R/" + "s" * 3000
    record["userIdentity"]["accessKeyId"] = "A" * 500
    record["userAgent"] = "u" * 200_000
    activity = normalize(record)
    assert activity.event_name == "E" * 128
    assert activity.region == "r" * 32
    assert len(activity.principal) == 512
    assert len(activity.principal_name) == 256
    assert activity.access_key_id == "A" * 128
    assert len(activity.user_agent) == module.TEXT_LIMIT
    assert_valid_row(activity)


def test_huge_request_parameters_are_truncated():
    record = load("iam_user_api_call")
    record["requestParameters"] = {"policyDocument": "x" * 200_000}
    activity = normalize(record)
    size = len(orjson.dumps(record["requestParameters"]))
    assert activity.request_parameters == {
        "_truncated": True,
        "size": size,
        "preview": orjson.dumps(record["requestParameters"])[:4096].decode(),
    }
    assert activity.raw is record  # under 1 MB: kept whole


def test_request_parameters_just_under_the_limit_are_kept():
    record = load("iam_user_api_call")
    record["requestParameters"] = {"policyDocument": "x" * (64 * 1024 - 100)}
    assert normalize(record).request_parameters == record["requestParameters"]


def test_huge_raw_keeps_its_small_keys_and_loses_its_largest_values():
    record = load("iam_user_api_call")
    record["requestParameters"] = {"blob": "x" * 3_000_000}
    record["responseElements"] = {"blob": "y" * 700_000}
    activity = normalize(record)
    raw = activity.raw
    assert len(orjson.dumps(raw)) <= module.RAW_LIMIT
    assert raw["requestParameters"]["_truncated"] is True
    assert raw["requestParameters"]["size"] == len(orjson.dumps(record["requestParameters"]))
    assert raw["responseElements"] == record["responseElements"]  # small enough once the rest is cut
    assert {key: raw[key] for key in ("eventID", "eventName", "userIdentity")} == {
        key: record[key] for key in ("eventID", "eventName", "userIdentity")
    }
    assert activity.request_parameters["_truncated"] is True
    assert len(record["requestParameters"]["blob"]) == 3_000_000  # the record itself is untouched


def test_raw_made_of_many_small_keys_is_truncated_as_a_whole():
    record = load("iam_user_api_call")
    record.update({f"extra{n}": n for n in range(120_000)})
    raw = normalize(record).raw
    assert raw["_truncated"] is True
    assert raw["size"] > module.RAW_LIMIT
    assert len(raw["preview"].encode()) <= 4096


def test_nul_characters_are_removed_everywhere():
    record = load("iam_user_api_call")
    record["userAgent"] = "curl\x00/8"
    record["requestParameters"] = {"userName": "bo\x00b"}
    record["userIdentity"]["userName"] = "ali\x00ce"
    activity = normalize(record)
    assert activity.user_agent == "curl/8"
    assert activity.request_parameters == {"userName": "bob"}
    assert activity.raw["userIdentity"]["userName"] == "alice"
    assert "\\u0000" not in json.dumps(activity.raw)


def test_records_built_in_python_with_odd_values_are_made_storable():
    record = load("iam_user_api_call")
    record["requestParameters"] = {1: "one", "big": 2**80, "nan": float("nan"), "bad": "\ud800", "set": {1}}
    activity = normalize(record)
    assert activity.request_parameters == {
        "1": "one",
        "big": str(2**80),
        "nan": None,
        "bad": "?",
        "set": "{1}",
    }
    json.dumps(activity.raw, allow_nan=False)


def test_records_too_deep_to_store_are_rejected():
    record = load("iam_user_api_call")
    deep: list = []
    record["requestParameters"] = deep
    for _ in range(300):
        deep.append([])
        deep = deep[0]
    assert rejection(record).startswith("the record cannot be stored as JSON")


def test_a_lookup_events_item_is_unwrapped():
    record = load("federated_user")
    item = {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "CloudTrailEvent": orjson.dumps(record).decode(),
    }
    assert normalize(item) == normalize(record)
    item["CloudTrailEvent"] = "{not json"
    assert rejection(item).startswith("CloudTrailEvent is not valid JSON (")
    item["CloudTrailEvent"] = "[1, 2]"
    assert rejection(item) == "CloudTrailEvent is not a JSON object (got a list)"


# --------------------------------------------------------------------------------------------------
# Batches


def test_batch_keeps_good_records_and_rejects_bad_ones_with_their_reasons():
    good = all_records()
    broken = load("iam_user_api_call")
    del broken["eventTime"]
    records = [*good, "not a record", None, broken, BadLine(7, "{oops", "not valid JSON (x)"), [1, 2]]
    result = normalize_batch(iter(records))
    assert [activity.event_id for activity in result.activities] == [record["eventID"] for record in good]
    assert result.rejected == [
        ("not a record", "the record is not a JSON object (got a string)"),
        ("null", "the record is not a JSON object (got null)"),
        (orjson.dumps(broken).decode(), "eventTime is missing"),
        ("{oops", "line 7: not valid JSON (x)"),
        ("[1,2]", "the record is not a JSON object (got a list)"),
    ]
    assert (result.accepted_count, result.rejected_count, result.total) == (len(good), 5, len(records))


def test_rejected_text_is_cut_to_one_megabyte():
    text = "é" * 2_000_000
    ((stored, reason),) = normalize_batch([text]).rejected
    assert len(stored.encode()) <= module.RAW_LIMIT
    assert stored.endswith("[truncated: 4,000,000 bytes in all]")
    assert stored.startswith("éé")
    assert reason == "the record is not a JSON object (got a string)"


def test_rejected_text_of_unprintable_records():
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no")

    ((stored, _),) = normalize_batch([Hostile()]).rejected
    assert stored == "<unprintable Hostile>"
    ((stored, _),) = normalize_batch([b"\x00\xff"]).rejected
    assert stored == "\ufffd\ufffd"


def test_a_bug_in_normalization_does_not_stop_the_batch(monkeypatch):
    def broken(*args):
        raise KeyError("surprise")

    monkeypatch.setattr(module, "_resources", broken)
    result = normalize_batch([load("iam_user_api_call")])
    assert result.activities == []
    assert result.rejected[0][1] == "the record could not be normalized (KeyError: 'surprise')"


# --------------------------------------------------------------------------------------------------
# Files


def records_object(records, indent=False) -> bytes:
    return orjson.dumps({"Records": records}, option=orjson.OPT_INDENT_2 if indent else 0)


def json_lines(records) -> bytes:
    return b"\n".join(orjson.dumps(record) for record in records) + b"\n"


class S3Body:
    """Like botocore's StreamingBody: read() only, short reads, no seek, no peek."""

    def __init__(self, data: bytes, chunk: int = 1000):
        self.data, self.position, self.chunk = data, 0, chunk

    def read(self, amount: int | None = None) -> bytes:
        size = self.chunk if amount is None else min(amount, self.chunk)
        if amount is None:
            size = len(self.data)
        piece = self.data[self.position : self.position + size]
        self.position += len(piece)
        return piece


FORMS = {
    "records object": lambda records: records_object(records),
    "pretty records object": lambda records: records_object(records, indent=True),
    "json array": lambda records: orjson.dumps(records),
    "pretty json array": lambda records: orjson.dumps(records, option=orjson.OPT_INDENT_2),
    "json lines": json_lines,
    "json lines with crlf and blank lines": lambda records: b"\r\n\r\n".join(
        orjson.dumps(r) for r in records
    ),
    "lookup-events output": lambda records: orjson.dumps(
        {"Events": [{"EventId": r["eventID"], "CloudTrailEvent": orjson.dumps(r).decode()} for r in records]},
        option=orjson.OPT_INDENT_2,
    ),
    "json lines of records objects": lambda records: (
        records_object(records[:5]) + b"\n" + records_object(records[5:])
    ),
}
SOURCES = {
    "bytes": lambda data: data,
    "bytearray": lambda data: bytearray(data),
    "memoryview": lambda data: memoryview(data),
    "binary file": lambda data: io.BytesIO(data),
    "s3 body": S3Body,
}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("form", FORMS)
def test_iter_records_reads_every_form(form, source, compressed):
    records = all_records()
    data = FORMS[form](records)
    if compressed:
        data = gzip.compress(data)
    found = [normalize(record) for record in iter_records(SOURCES[source](data))]
    assert found == [normalize(record) for record in records]


@pytest.mark.parametrize("form", FORMS)
def test_iter_records_reads_text(form):
    records = all_records()
    text = FORMS[form](records).decode()
    assert list(map(normalize, iter_records(text))) == list(map(normalize, records))
    assert list(map(normalize, iter_records(io.StringIO(text)))) == list(map(normalize, records))


def test_iter_records_reads_files_on_disk(tmp_path):
    records = all_records()
    path = tmp_path / "123456789012_CloudTrail_eu-west-1_20261128T1005Z_Mu0KsOhtH1ar15ZZ.json.gz"
    path.write_bytes(gzip.compress(records_object(records)))
    with path.open("rb") as handle:
        assert list(iter_records(handle)) == records
    with (tmp_path / "plain.json").open("w+", encoding="utf-8") as handle:
        handle.write(json_lines(records).decode())
        handle.seek(0)
        assert list(iter_records(handle)) == records


def test_a_single_record_file_and_a_byte_order_mark():
    record = load("root_console_login_mfa")
    assert list(iter_records(b"\xef\xbb\xbf" + orjson.dumps(record, option=orjson.OPT_INDENT_2))) == [record]
    assert list(iter_records(b"\xef\xbb\xbf" + json_lines([record, record]))) == [record, record]


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", "", gzip.compress(b"")])
def test_empty_files_have_no_records(data):
    assert list(iter_records(data)) == []


def test_json_lines_with_a_bad_line_go_on():
    records = all_records()[:4]
    lines = [orjson.dumps(record) for record in records]
    lines.insert(2, b'{"eventVersion": "1.09", "eventID": "cut-here')
    data = b"\n".join(lines)
    found = list(iter_records(data))
    assert found[:2] == records[:2]
    assert found[3:] == records[2:]
    bad = found[2]
    assert isinstance(bad, BadLine)
    assert (bad.line_number, bad.text) == (3, '{"eventVersion": "1.09", "eventID": "cut-here')
    assert bad.reason.startswith("line 3: not valid JSON (")
    result = normalize_batch(iter_records(gzip.compress(data)))
    assert (result.accepted_count, result.rejected_count) == (4, 1)
    assert result.rejected[0] == (bad.text, bad.reason)


def test_json_lines_whose_first_line_is_bad_still_read_the_rest():
    records = all_records()[:3]
    data = b"not json at all\n" + json_lines(records) + b"[1, \n"
    found = list(iter_records(data))
    assert isinstance(found[0], BadLine)
    assert found[0].line_number == 1
    assert found[1:4] == records
    assert isinstance(found[4], BadLine)
    assert found[4].line_number == 5


def test_a_broken_document_is_one_rejection_not_a_rejection_per_line():
    data = records_object(all_records(), indent=True)
    broken = data[: len(data) // 2]
    (bad,) = list(iter_records(broken))
    assert isinstance(bad, BadLine)
    assert bad.error.startswith("the file is not valid JSON (")
    assert bad.text == broken.decode()
    assert bad.line_number == broken.count(b"\n") + 1


def test_records_that_is_not_a_list():
    (bad,) = list(iter_records(b'{"Records": {"eventID": "x"}}'))
    assert isinstance(bad, BadLine)
    assert bad.reason == 'line 1: "Records" is not a list (got an object)'


def test_scalars_and_lists_in_json_lines_become_rejected_records():
    result = normalize_batch(iter_records(b'42\n"text"\nnull\n[[1]]\n'))
    assert [reason for _, reason in result.rejected] == [
        "the record is not a JSON object (got a number)",
        "the record is not a JSON object (got a string)",
        "the record is not a JSON object (got null)",
        "the record is not a JSON object (got a list)",
    ]


def test_a_truncated_gzip_file_ends_with_a_rejection():
    records = all_records()
    data = gzip.compress(json_lines(records * 50))
    found = list(iter_records(data[: len(data) // 2]))
    assert isinstance(found[-1], BadLine)
    assert "the compressed file is damaged or truncated" in found[-1].error
    good = [record for record in found if isinstance(record, dict)]
    assert good and good == (records * 50)[: len(good)]


def test_a_damaged_gzip_file_is_one_rejection():
    data = bytearray(gzip.compress(records_object(all_records())))
    data[20:40] = b"\x00" * 20
    found = list(iter_records(bytes(data)))
    assert len(found) == 1
    assert isinstance(found[0], BadLine)
    assert "the compressed file is damaged or truncated" in found[0].error


def test_json_lines_are_streamed():
    records = all_records() * 200
    body = S3Body(gzip.compress(json_lines(records)), chunk=4096)
    reader = iter_records(body)
    assert next(reader) == records[0]
    assert body.position < len(body.data) / 2
    assert sum(1 for _ in reader) == len(records) - 1


def test_iter_records_refuses_what_it_cannot_read():
    with pytest.raises(TypeError):
        list(iter_records(42))  # type: ignore[arg-type]


def test_invalid_utf8_in_a_line_is_a_bad_line():
    record = load("iam_user_api_call")
    data = orjson.dumps(record) + b'\n{"eventID": "\xff\xfe"}\n' + orjson.dumps(record)
    found = list(iter_records(data))
    assert found[0] == record and found[2] == record
    assert isinstance(found[1], BadLine) and found[1].line_number == 2


# --------------------------------------------------------------------------------------------------
# Robustness: randomly damaged copies of the fixtures

ODD_VALUES = [
    None,
    0,
    -1,
    2**70,
    1.5,
    True,
    "",
    "x",
    "\x00",
    "\ud800",
    [],
    [None],
    {},
    {"a": None},
    "9" * 300,
]


def mutate(value, rng: random.Random, depth: int = 0):
    if isinstance(value, dict) and value and depth < 6:
        value = dict(value)
        for key in list(value):
            roll = rng.random()
            if roll < 0.08:
                del value[key]
            elif roll < 0.14:
                value[key] = rng.choice(ODD_VALUES)
            elif roll < 0.17:
                value[key.lower() if isinstance(key, str) else key] = value.pop(key)
            elif roll < 0.6:
                value[key] = mutate(value[key], rng, depth + 1)
        return value
    if isinstance(value, list) and value and depth < 6:
        return [mutate(item, rng, depth + 1) for item in value if rng.random() > 0.1]
    if rng.random() < 0.2:
        return rng.choice(ODD_VALUES)
    return value


def damaged_records(count: int, seed: int) -> list:
    rng = random.Random(seed)
    fixtures = all_records()
    records = []
    for _ in range(count):
        record = mutate(copy.deepcopy(rng.choice(fixtures)), rng)
        roll = rng.random()
        if roll < 0.03:
            record = [record]
        elif roll < 0.06:
            record = rng.choice(ODD_VALUES)
        elif roll < 0.09:
            record = repr(record).encode("utf-8", "surrogatepass")
        records.append(record)
    return records


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_randomly_damaged_records_never_break_a_batch(seed):
    records = damaged_records(300, seed)
    result = normalize_batch(records)
    assert result.total == len(records)
    assert result.activities, "some damaged records should still be usable"
    assert result.rejected, "some damaged records should be rejected"
    for _, reason in result.rejected:
        assert not reason.startswith("the record could not be normalized"), reason
    for activity in result.activities:
        assert isinstance(activity, NormalizedActivity)
        assert activity.event_time.tzinfo is UTC
        assert activity.principal
        json.dumps(activity.raw, allow_nan=False)
        json.dumps(activity.request_parameters, allow_nan=False)
        assert_valid_row(activity)


@pytest.mark.parametrize("seed", [4, 5])
def test_randomly_damaged_files_never_break_reading(seed):
    rng = random.Random(seed)
    data = bytearray(json_lines(all_records() * 3))
    for _ in range(40):
        data[rng.randrange(len(data))] = rng.randrange(256)
    for payload in (bytes(data), gzip.compress(bytes(data))):
        found = list(iter_records(payload))
        result = normalize_batch(found)
        assert result.total == len(found)
        for _, reason in result.rejected:
            assert not reason.startswith("the record could not be normalized"), reason
