"""Bucket actions: make a bucket private, remove one collaborator from its ACL. Both save the ACL they
replace, so revert puts back exactly what was there."""

from __future__ import annotations

from typing import Any

from connectors.aws import ACCESS_DENIED_CODES
from governance.actions.base import Action, ActionContext, ActionError, Outcome
from governance.actions.registry import register_action

GROUPS = "http://acs.amazonaws.com/groups/global/"
PUBLIC_GROUPS = {f"{GROUPS}AllUsers": "everyone (AllUsers)", f"{GROUPS}AuthenticatedUsers": "any AWS account"}
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
NO_BLOCK_CODES = {"NoSuchPublicAccessBlockConfiguration"}
NO_POLICY_CODES = {"NoSuchBucketPolicy"}


def read_acl(context: ActionContext, bucket: str) -> dict[str, Any]:
    acl = context.call("s3", "get_bucket_acl", permission="s3:GetBucketAcl", Bucket=bucket)
    return {"Owner": acl["Owner"], "Grants": acl.get("Grants", [])}


def write_acl(context: ActionContext, bucket: str, acl: dict[str, Any]) -> None:
    context.call("s3", "put_bucket_acl", permission="s3:PutBucketAcl", Bucket=bucket, AccessControlPolicy=acl)


def grantee_name(grantee: dict[str, Any]) -> str:
    uri = grantee.get("URI", "")
    if uri:
        return uri.removeprefix(GROUPS)
    return grantee.get("DisplayName") or grantee.get("EmailAddress") or grantee.get("ID", "")


def _optional(context: ActionContext, operation: str, *, permission: str, absent: set[str], **params):
    """A call the action does where permitted: None when it is not allowed or there is nothing."""
    try:
        return context.call("s3", operation, permission=permission, **params)
    except ActionError as error:
        if error.code in ACCESS_DENIED_CODES or error.code in absent:
            return None
        raise


@register_action
class MakeBucketPrivate(Action):
    key = "s3_make_private"
    label = "Make bucket private"
    target_type = "bucket"
    revertible = True
    permissions = ("s3:GetBucketAcl", "s3:PutBucketAcl", "s3:PutBucketPublicAccessBlock (optional)")
    icon = "lock_closed"

    def describe(self, *, target: str, parameters: dict[str, Any]) -> str:
        return (
            f"Remove the grants to everyone (AllUsers) and to any AWS account (AuthenticatedUsers) from "
            f"the ACL of the bucket {target}, and, where permitted, turn on its public access block. "
            "The owner's and named accounts' grants stay. The current ACL is saved so this can be reverted."
        )

    def execute(self, context: ActionContext) -> Outcome:
        bucket = context.target
        acl = read_acl(context, bucket)
        public = [g for g in acl["Grants"] if g.get("Grantee", {}).get("URI") in PUBLIC_GROUPS]
        block = _optional(
            context,
            "get_public_access_block",
            permission="s3:GetBucketPublicAccessBlock",
            absent=NO_BLOCK_CODES,
            Bucket=bucket,
        )
        policy = _optional(
            context,
            "get_bucket_policy_status",
            permission="s3:GetBucketPolicyStatus",
            absent=NO_POLICY_CODES,
            Bucket=bucket,
        )
        state = {
            "acl": acl,
            "public_access_block": (block or {}).get("PublicAccessBlockConfiguration"),
            "policy_public": (policy or {}).get("PolicyStatus", {}).get("IsPublic"),
        }
        done = []
        if public:
            write_acl(context, bucket, {**acl, "Grants": [g for g in acl["Grants"] if g not in public]})
            removed = sorted({f"{PUBLIC_GROUPS[g['Grantee']['URI']]} {g['Permission']}" for g in public})
            done.append(f"Removed {', '.join(removed)} from the ACL of {bucket}.")
        else:
            done.append(f"The ACL of {bucket} grants nothing to everyone or to any AWS account.")
        blocked = _optional(
            context,
            "put_public_access_block",
            permission="s3:PutBucketPublicAccessBlock",
            absent=set(),
            Bucket=bucket,
            PublicAccessBlockConfiguration=BLOCK_ALL,
        )
        state["blocked"] = blocked is not None
        done.append(
            "Turned on its public access block."
            if blocked is not None
            else "Its public access block was left as it was (s3:PutBucketPublicAccessBlock is not granted)."
        )
        if state["policy_public"]:
            done.append("Its bucket policy is public too: review it in AWS.")
        return Outcome(" ".join(done), state)

    def revert(self, context: ActionContext, state: dict[str, Any]) -> Outcome:
        bucket = context.target
        if state.get("blocked"):
            # The block goes first: while it is on, AWS refuses the public ACL being restored.
            previous = state.get("public_access_block")
            if previous:
                context.call(
                    "s3",
                    "put_public_access_block",
                    permission="s3:PutBucketPublicAccessBlock",
                    Bucket=bucket,
                    PublicAccessBlockConfiguration=previous,
                )
            else:
                context.call(
                    "s3",
                    "delete_public_access_block",
                    permission="s3:PutBucketPublicAccessBlock",
                    Bucket=bucket,
                )
        write_acl(context, bucket, state["acl"])
        return Outcome(f"Restored the previous ACL and public access block of {bucket}.")


@register_action
class RemoveCollaborator(Action):
    key = "s3_remove_collaborator"
    label = "Remove bucket collaborator"
    target_type = "bucket"
    revertible = True
    permissions = ("s3:GetBucketAcl", "s3:PutBucketAcl")
    icon = "person_delete"
    parameter_names = ("grantee",)

    def clean_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        grantee = str(parameters.get("grantee") or "").strip()
        if not grantee:
            raise ValueError(
                "Name the collaborator to remove: a canonical user ID, an email address, a display name "
                "or a group (AllUsers, AuthenticatedUsers)."
            )
        return {"grantee": grantee}

    def describe(self, *, target: str, parameters: dict[str, Any]) -> str:
        return (
            f"Remove every grant to {parameters.get('grantee', 'the collaborator')} from the ACL of the "
            f"bucket {target}. Other grants stay. The current ACL is saved so this can be reverted."
        )

    def execute(self, context: ActionContext) -> Outcome:
        bucket, wanted = context.target, context.parameters["grantee"]
        acl = read_acl(context, bucket)
        if _matches(acl["Owner"], wanted):
            raise ActionError(
                f"{wanted} owns the bucket {bucket}; the owner cannot be removed.", permanent=True
            )
        removed = [g for g in acl["Grants"] if _matches(g.get("Grantee", {}), wanted)]
        if not removed:
            raise ActionError(f"{wanted} has no grant on the bucket {bucket}.", permanent=True)
        write_acl(context, bucket, {**acl, "Grants": [g for g in acl["Grants"] if g not in removed]})
        permissions = ", ".join(sorted({g["Permission"] for g in removed}))
        name = grantee_name(removed[0]["Grantee"])
        return Outcome(f"Removed {name} ({permissions}) from the ACL of {bucket}.", {"acl": acl})

    def revert(self, context: ActionContext, state: dict[str, Any]) -> Outcome:
        write_acl(context, context.target, state["acl"])
        return Outcome(f"Restored the previous ACL of {context.target}.")


def _matches(grantee: dict[str, Any], wanted: str) -> bool:
    wanted_lower = wanted.lower()
    uri = grantee.get("URI", "")
    return (
        wanted == grantee.get("ID")
        or wanted_lower == (grantee.get("EmailAddress") or "").lower()
        or wanted == grantee.get("DisplayName")
        or (bool(uri) and wanted in {uri, uri.removeprefix(GROUPS)})
    )
