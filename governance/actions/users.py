"""User actions: notify, require sign-in again, suspend. A principal that maps to a directory user
synchronized from Microsoft Entra ID (and an Entra ID connection that is set up) is acted on in Entra
ID through Microsoft Graph; otherwise an IAM user is acted on natively in IAM, as AWS documents."""

from __future__ import annotations

import json
import smtplib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from connectors.directory import directory_snapshot, owner_of
from connectors.models import DirectoryUser, IamUser
from governance.actions.base import Action, ActionContext, ActionError, Outcome
from governance.actions.registry import register_action

REVOKE_POLICY_NAME = "DefenderForAWS-RevokeOlderSessions"


@dataclass(frozen=True)
class Principal:
    arn: str
    name: str
    is_iam_user: bool


def principal_of(context: ActionContext) -> Principal:
    """The target as a principal: an IAM user ARN, another principal ARN, or a bare IAM user name."""
    target = context.target.strip()
    if target.startswith("arn:"):
        return Principal(target, target.rpartition("/")[2], ":user/" in target and ":iam::" in target)
    arn = (
        IamUser.objects.filter(connector=context.connector, user_name=target)
        .values_list("arn", flat=True)
        .first()
        or f"arn:aws:iam::{context.connector.account_id}:user/{target}"
    )
    return Principal(arn, target, True)


def directory_user_of(principal: Principal) -> DirectoryUser | None:
    entry = owner_of(principal.arn, principal.name, directory_snapshot())
    if entry is None:
        return None
    return DirectoryUser.objects.filter(email__iexact=entry.email).first()


def entra_user_id(principal: Principal):
    """(Graph client, Entra user id) when the principal is an Entra ID user and Entra ID is connected."""
    person = directory_user_of(principal)
    if person is None or person.source != DirectoryUser.Source.ENTRA_ID or not person.external_id:
        return None, ""
    client = entra_client()
    return (client, person.external_id) if client is not None else (None, "")


def entra_client():
    """The Graph client, None when no Entra ID connection is set up and enabled."""
    # Imported here: only principals synchronized from Entra ID ever need Microsoft Graph.
    from connectors.entra import graph_client

    return graph_client()


def graph_call(call, *, permission: str):
    from connectors.entra import GraphError

    try:
        return call()
    except GraphError as error:
        said = f"({error.code or error.status}: {error.message})"
        if error.transient:
            message = (
                "Microsoft Entra ID could not be reached or throttled the call; "
                f"it will be tried again {said}."
            )
        else:
            message = f"Microsoft Entra ID refused the change {said}."
        if error.status == 403:
            message += f" Grant the portal's app registration {permission}."
        elif error.status == 404:
            message += " The user no longer exists in Entra ID: synchronize the directory."
        raise ActionError(message, permanent=not error.transient, code=error.code) from error


def _iam_user(principal: Principal, action: str) -> str:
    if not principal.is_iam_user:
        raise ActionError(
            f"{principal.arn} is not an IAM user and is not mapped to an Entra ID user: {action} "
            "applies to IAM users, or to people in Entra ID.",
            permanent=True,
        )
    return principal.name


@register_action
class NotifyUser(Action):
    key = "user_notify"
    label = "Notify user"
    target_type = "user"
    permissions = ("Outgoing email (EMAIL_URL)",)
    icon = "mail"
    parameter_names = ("message",)

    def describe(self, *, target: str, parameters: dict[str, Any]) -> str:
        return (
            f"Email {target} (at the address from the identity provider, or the IAM user's email tag) "
            "that the security team noticed activity on their AWS account. Nothing in AWS changes."
        )

    def execute(self, context: ActionContext) -> Outcome:
        principal = principal_of(context)
        person = directory_user_of(principal)
        address = person.email if person else ""
        if not address:
            address = (
                IamUser.objects.filter(connector=context.connector, arn=principal.arn)
                .exclude(email="")
                .values_list("email", flat=True)
                .first()
                or ""
            )
        if not address:
            raise ActionError(
                f"No email address is known for {principal.name}: tag the IAM user with `email`, or map "
                "the principal to a person in Settings > Identity provider.",
                permanent=True,
            )
        values = {
            "name": person.display_name if person and person.display_name else principal.name,
            "principal": principal,
            "account": context.connector.name,
            "alert": context.alert,
            "message": context.parameters.get("message", ""),
            "portal_url": settings.PORTAL_URL,
        }
        subject = render_to_string("governance/email/user_notify_subject.txt", values).strip()
        body = render_to_string("governance/email/user_notify.txt", values)
        try:
            send_mail(subject, body, None, [address])
        except (OSError, smtplib.SMTPException) as error:
            raise ActionError(f"The email could not be sent: {error}", permanent=False) from error
        return Outcome(f"Emailed {address}.", {"email": address})


@register_action
class RequireSignIn(Action):
    key = "user_require_sign_in"
    label = "Require user to sign in again"
    target_type = "user"
    revertible = True
    permissions = (
        "iam:PutUserPolicy",
        "iam:GetUserPolicy",
        "iam:DeleteUserPolicy",
        "Microsoft Graph User.RevokeSessions.All",
    )
    icon = "person_key"

    def describe(self, *, target: str, parameters: dict[str, Any]) -> str:
        return (
            f"Revoke every session of {target}: in Entra ID (revokeSignInSessions) when the user comes "
            f"from Entra ID, otherwise with an inline IAM policy {REVOKE_POLICY_NAME} that denies every "
            "action to credentials issued before now (aws:TokenIssueTime). Access keys keep working."
        )

    def execute(self, context: ActionContext) -> Outcome:
        principal = principal_of(context)
        graph, user_id = entra_user_id(principal)
        if graph is not None:
            graph_call(lambda: graph.revoke_sign_in_sessions(user_id), permission="User.RevokeSessions.All")
            return Outcome(f"Revoked the Entra ID sessions of {principal.name}.", {"route": "entra_id"})
        name = _iam_user(principal, self.label)
        previous = _inline_policy(context, name)
        now = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": now}},
                }
            ],
        }
        context.call(
            "iam",
            "put_user_policy",
            permission="iam:PutUserPolicy",
            UserName=name,
            PolicyName=REVOKE_POLICY_NAME,
            PolicyDocument=json.dumps(document),
        )
        return Outcome(
            f"Attached {REVOKE_POLICY_NAME} to {name}: sessions issued before {now} are denied.",
            {"route": "iam", "user_name": name, "previous_policy": previous},
        )

    def can_revert(self, state: dict[str, Any]) -> bool:
        return state.get("route") == "iam"

    def revert(self, context: ActionContext, state: dict[str, Any]) -> Outcome:
        name, previous = state["user_name"], state.get("previous_policy")
        if previous:
            context.call(
                "iam",
                "put_user_policy",
                permission="iam:PutUserPolicy",
                UserName=name,
                PolicyName=REVOKE_POLICY_NAME,
                PolicyDocument=json.dumps(previous),
            )
        else:
            context.call(
                "iam",
                "delete_user_policy",
                permission="iam:DeleteUserPolicy",
                UserName=name,
                PolicyName=REVOKE_POLICY_NAME,
            )
        return Outcome(f"Removed {REVOKE_POLICY_NAME} from {name}: older sessions work again.")


def _inline_policy(context: ActionContext, user_name: str) -> dict | None:
    try:
        answer = context.call(
            "iam",
            "get_user_policy",
            permission="iam:GetUserPolicy",
            UserName=user_name,
            PolicyName=REVOKE_POLICY_NAME,
        )
    except ActionError as error:
        if error.code == "NoSuchEntity":
            return None
        raise
    document = answer["PolicyDocument"]
    return json.loads(document) if isinstance(document, str) else document


@register_action
class SuspendUser(Action):
    key = "user_suspend"
    label = "Suspend user"
    target_type = "user"
    revertible = True
    permissions = (
        "iam:ListAccessKeys",
        "iam:UpdateAccessKey",
        "iam:GetLoginProfile",
        "iam:DeleteLoginProfile",
        "Microsoft Graph User.ReadWrite.All",
    )
    icon = "person_prohibited"

    def describe(self, *, target: str, parameters: dict[str, Any]) -> str:
        return (
            f"Disable {target}: in Entra ID (accountEnabled = false) when the user comes from Entra ID; "
            "otherwise deactivate every active access key of the IAM user and remove its console "
            "password. Revert re-activates the keys; a removed console password is not restored."
        )

    def execute(self, context: ActionContext) -> Outcome:
        principal = principal_of(context)
        graph, user_id = entra_user_id(principal)
        if graph is not None:
            graph_call(lambda: graph.set_account_enabled(user_id, False), permission="User.ReadWrite.All")
            return Outcome(
                f"Disabled {principal.name} in Entra ID.", {"route": "entra_id", "user_id": user_id}
            )
        name = _iam_user(principal, self.label)
        keys = context.call("iam", "list_access_keys", permission="iam:ListAccessKeys", UserName=name)
        active = [k["AccessKeyId"] for k in keys.get("AccessKeyMetadata", []) if k["Status"] == "Active"]
        for key_id in active:
            context.call(
                "iam",
                "update_access_key",
                permission="iam:UpdateAccessKey",
                UserName=name,
                AccessKeyId=key_id,
                Status="Inactive",
            )
        had_password = _has_login_profile(context, name)
        if had_password:
            context.call("iam", "delete_login_profile", permission="iam:DeleteLoginProfile", UserName=name)
        done = [
            f"Deactivated {len(active)} access key{'s' if len(active) != 1 else ''}"
            + (f" ({', '.join(active)})" if active else "")
        ]
        done.append("removed the console password" if had_password else "there was no console password")
        return Outcome(
            f"Suspended {name}: {'; '.join(done)}.",
            {
                "route": "iam",
                "user_name": name,
                "deactivated_keys": active,
                "login_profile_removed": had_password,
            },
        )

    def revert(self, context: ActionContext, state: dict[str, Any]) -> Outcome:
        if state.get("route") == "entra_id":
            graph = entra_client()
            if graph is None:
                raise ActionError("The Entra ID connection is no longer set up.", permanent=True)
            graph_call(
                lambda: graph.set_account_enabled(state["user_id"], True), permission="User.ReadWrite.All"
            )
            return Outcome(f"Enabled {state['user_id']} in Entra ID again.")
        name = state["user_name"]
        for key_id in state.get("deactivated_keys", []):
            context.call(
                "iam",
                "update_access_key",
                permission="iam:UpdateAccessKey",
                UserName=name,
                AccessKeyId=key_id,
                Status="Active",
            )
        summary = f"Re-activated {len(state.get('deactivated_keys', []))} access key(s) of {name}."
        if state.get("login_profile_removed"):
            summary += " The console password was removed and is not restored: set a new one in AWS."
        return Outcome(summary)


def _has_login_profile(context: ActionContext, user_name: str) -> bool:
    try:
        context.call("iam", "get_login_profile", permission="iam:GetLoginProfile", UserName=user_name)
    except ActionError as error:
        if error.code == "NoSuchEntity":
            return False
        raise
    return True
