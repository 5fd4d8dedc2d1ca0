"""Inventory of a connected account's IAM users (Assets > Accounts)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from django.db import transaction
from django.utils import timezone

from connectors import aws
from connectors.aws import ErrorKind
from connectors.models import Connector, IamUser
from connectors.services import connector_credentials


def _optional(call, *, missing: ErrorKind = ErrorKind.NOT_FOUND):
    """An IAM answer that may legitimately not exist (no login profile) or not be permitted."""
    try:
        return call()
    except ClientError as error:
        if aws.classify(error).kind in {missing, ErrorKind.ACCESS_DENIED}:
            return None
        raise


def inventory_refresh(*, connector_id: int) -> int | None:
    """Re-read every IAM user; users gone from AWS are removed. Returns how many there are."""
    connector = Connector.objects.filter(pk=connector_id, status=Connector.Status.CONNECTED).first()
    if connector is None:
        return None
    iam = aws.client("iam", connector_credentials(connector), endpoint_url=connector.endpoint_url)
    seen: list[IamUser] = []
    try:
        for page in iam.get_paginator("list_users").paginate():
            for user in page["Users"]:
                seen.append(_describe(iam, connector, user))
    except (ClientError, BotoCoreError) as error:
        failure = aws.classify(error)
        if failure.transient:
            raise
        return None
    with transaction.atomic():
        IamUser.objects.filter(connector=connector).exclude(arn__in=[u.arn for u in seen]).delete()
        IamUser.objects.bulk_create(
            seen,
            update_conflicts=True,
            unique_fields=["connector", "arn"],
            update_fields=[
                "user_name",
                "user_id",
                "created",
                "password_last_used",
                "console_access",
                "mfa_enabled",
                "access_keys",
                "email",
                "tags",
                "last_scanned",
            ],
        )
    return len(seen)


def _describe(iam, connector: Connector, user: dict) -> IamUser:
    name = user["UserName"]
    keys = []
    for key in (_optional(lambda: iam.list_access_keys(UserName=name)) or {}).get("AccessKeyMetadata", []):
        used = _optional(lambda k=key: iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])) or {}
        last_used = used.get("AccessKeyLastUsed", {}).get("LastUsedDate")
        keys.append(
            {
                "id": key["AccessKeyId"],
                "status": key["Status"],
                "created": key["CreateDate"].isoformat() if key.get("CreateDate") else None,
                "last_used": last_used.isoformat() if last_used else None,
            }
        )
    mfa = (_optional(lambda: iam.list_mfa_devices(UserName=name)) or {}).get("MFADevices", [])
    login = _optional(lambda: iam.get_login_profile(UserName=name))
    tags = {
        t["Key"]: t["Value"]
        for t in (_optional(lambda: iam.list_user_tags(UserName=name)) or {}).get("Tags", [])
    }
    return IamUser(
        connector=connector,
        user_name=name,
        arn=user["Arn"],
        user_id=user.get("UserId", ""),
        created=user.get("CreateDate"),
        password_last_used=user.get("PasswordLastUsed"),
        console_access=login is not None,
        mfa_enabled=bool(mfa),
        access_keys=keys,
        email=tags.get("email", "")[:254],
        tags=tags,
        last_scanned=timezone.now(),
    )
