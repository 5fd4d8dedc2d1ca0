"""The IAM policies an administrator pastes into AWS, shown in the connect wizard."""

import json

# The seed's policy: read access plus s3:PutBucketAcl for data governance (make a bucket private).
GOVERNANCE_ACTIONS = [
    "cloudtrail:DescribeTrails",
    "cloudtrail:LookupEvents",
    "cloudtrail:GetTrailStatus",
    "cloudwatch:Describe*",
    "cloudwatch:Get*",
    "cloudwatch:List*",
    "iam:List*",
    "iam:Get*",
    "s3:ListAllMyBuckets",
    "s3:PutBucketAcl",
    "s3:GetBucketAcl",
    "s3:GetBucketLocation",
]

# Least privilege, read only: exactly what the checks below need, no write.
READ_ONLY_ACTIONS = [
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:LookupEvents",
    "iam:ListUsers",
    "iam:ListAccessKeys",
    "iam:GetLoginProfile",
    "iam:ListMFADevices",
    "iam:ListUserTags",
    "iam:ListAttachedUserPolicies",
    "iam:ListUserPolicies",
    "iam:ListGroupsForUser",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetUserPolicy",
    "iam:GetRolePolicy",
    "iam:ListAttachedGroupPolicies",
    "iam:ListGroupPolicies",
    "iam:GetGroupPolicy",
    "s3:ListAllMyBuckets",
    "s3:GetBucketAcl",
    "s3:GetBucketLocation",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock",
]


def policy_document(actions: list[str]) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Action": actions, "Effect": "Allow", "Resource": "*"}]}


def trust_policy_document(portal_principal_arn: str, external_id: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": portal_principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def as_json(document: dict) -> str:
    return json.dumps(document, indent=2)


GOVERNANCE_POLICY_JSON = as_json(policy_document(GOVERNANCE_ACTIONS))
READ_ONLY_POLICY_JSON = as_json(policy_document(READ_ONLY_ACTIONS))
