"""AWS accounts in the local emulator for tests: IAM users with given policies, a seeded account."""

import json
from dataclasses import dataclass

import pytest

from connectors import aws
from connectors.aws import AwsCredentials
from connectors.iam_policies import GOVERNANCE_ACTIONS, READ_ONLY_ACTIONS, policy_document

ROOT_CREDENTIALS = AwsCredentials(access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key="testing-root")


@dataclass
class IamUser:
    name: str
    arn: str
    credentials: AwsCredentials

    def csv(self, layout: str = "console") -> bytes:
        key, secret = self.credentials.access_key_id, self.credentials.secret_access_key
        if layout == "console":
            return (
                "User name,Password,Access key ID,Secret access key,Console login link\n"
                f"{self.name},,{key},{secret},https://123456789012.signin.aws.amazon.com/console\n"
            ).encode()
        return f"Access key ID,Secret access key\n{key},{secret}\n".encode()


@pytest.fixture
def make_iam_user(aws):
    """make_iam_user(name, actions) -> an IAM user in the emulator whose only policy allows ``actions``."""

    def make(name: str, actions: list[str]) -> IamUser:
        iam = aws_client("iam", aws.endpoint_url)
        user = iam.create_user(UserName=name)["User"]
        iam.put_user_policy(
            UserName=name, PolicyName="defender", PolicyDocument=json.dumps(policy_document(actions))
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return IamUser(name, user["Arn"], AwsCredentials(key["AccessKeyId"], key["SecretAccessKey"]))

    return make


def aws_client(service: str, endpoint_url: str):
    return aws.client(
        service, ROOT_CREDENTIALS, endpoint_url=endpoint_url, retry_mode="standard", max_attempts=1
    )


@pytest.fixture
def seeded_account(aws):
    """A bucket and a multi-region trail, made before authorization is switched on."""
    s3 = aws_client("s3", aws.endpoint_url)
    s3.create_bucket(Bucket="defender-trail-logs")
    s3.create_bucket(Bucket="payments-reports")
    cloudtrail = aws_client("cloudtrail", aws.endpoint_url)
    cloudtrail.create_trail(Name="org-trail", S3BucketName="defender-trail-logs", IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="org-trail")
    return aws


@pytest.fixture
def connector_user(make_iam_user, seeded_account):
    """The seed's policy: everything, with data governance."""
    return make_iam_user("defender-connector", GOVERNANCE_ACTIONS)


@pytest.fixture
def read_only_user(make_iam_user, seeded_account):
    return make_iam_user("defender-readonly", READ_ONLY_ACTIONS)
