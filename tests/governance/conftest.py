import pytest

from connectors.models import Connector
from tests.aws_fixtures import ROOT_CREDENTIALS, aws_client

COLLABORATOR_ID = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"


@pytest.fixture
def connector(aws):
    """A connected account in the emulator whose credentials allow data governance."""
    connector = Connector(
        name="Production",
        status=Connector.Status.CONNECTED,
        account_id="123456789012",
        access_key_id=ROOT_CREDENTIALS.access_key_id,
        governance_enabled=True,
    )
    connector.secret_access_key = ROOT_CREDENTIALS.secret_access_key
    connector.save()
    return connector


@pytest.fixture
def s3(aws):
    return aws_client("s3", aws.endpoint_url)


@pytest.fixture
def iam(aws):
    return aws_client("iam", aws.endpoint_url)


@pytest.fixture
def public_bucket(s3):
    """payments-public: readable by everyone, writable by any AWS account, shared with a collaborator."""
    s3.create_bucket(Bucket="payments-public")
    owner = s3.get_bucket_acl(Bucket="payments-public")["Owner"]
    s3.put_bucket_acl(
        Bucket="payments-public",
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
                {
                    "Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                    "Permission": "READ",
                },
                {
                    "Grantee": {
                        "Type": "Group",
                        "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
                    },
                    "Permission": "WRITE",
                },
                {"Grantee": {"Type": "CanonicalUser", "ID": COLLABORATOR_ID}, "Permission": "READ"},
            ],
        },
    )
    return "payments-public"
