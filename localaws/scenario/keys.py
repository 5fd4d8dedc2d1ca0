"""The stable key of the principal behind a CloudTrail record.

The product's convention (the ingestion normalizer uses the same): an IAM user is its user ARN, an
assumed role is its STS assumed-role ARN (role + session name), the root user is the account's root
ARN, and an AWS service acting on its own is the service's name.
"""

from __future__ import annotations

SERVICE_ANONYMOUS = "AWS Internal"


def _account(record: dict, identity: dict) -> str:
    return str(identity.get("accountId") or record.get("recipientAccountId") or "")


def _service(record: dict, identity: dict) -> str:
    invoked_by = identity.get("invokedBy") or ""
    if invoked_by and invoked_by != SERVICE_ANONYMOUS:
        return invoked_by
    source_ip = record.get("sourceIPAddress") or ""
    if source_ip.endswith(".amazonaws.com"):
        return source_ip
    return record.get("eventSource") or SERVICE_ANONYMOUS


def principal_key(record: dict) -> str:
    """The principal's stable key: user ARN, assumed-role ARN, root ARN or service name."""
    identity = record.get("userIdentity") or {}
    kind = identity.get("type") or ""
    account = _account(record, identity)
    if kind == "IAMUser":
        return identity.get("arn") or f"arn:aws:iam::{account}:user/{identity.get('userName', '')}"
    if kind == "Root":
        return f"arn:aws:iam::{account}:root"
    if kind == "AssumedRole":
        if identity.get("arn"):
            return identity["arn"]
        issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
        session = (identity.get("principalId") or "").partition(":")[2]
        return f"arn:aws:sts::{account}:assumed-role/{issuer.get('userName', '')}/{session}"
    if kind in {"SAMLUser", "WebIdentityUser"}:
        # The federation call itself: its principal is the session it creates.
        assumed = ((record.get("responseElements") or {}).get("assumedRoleUser") or {}).get("arn")
        return assumed or f"{kind}:{identity.get('userName', '')}"
    if kind == "FederatedUser":
        return identity.get("arn") or f"arn:aws:sts::{account}:federated-user/{identity.get('userName', '')}"
    if kind == "AWSService" or (not kind and identity.get("invokedBy")):
        return _service(record, identity)
    if kind == "AWSAccount":
        return identity.get("invokedBy") or f"arn:aws:iam::{account}:root"
    if kind == "IdentityCenterUser":
        return f"identitycenter:{(identity.get('onBehalfOf') or {}).get('userId', '')}"
    return identity.get("arn") or identity.get("principalId") or "unknown"
