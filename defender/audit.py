"""The audit log: who did what, to which record, when and from which IP (Settings > Audit log).

Services call ``audit_record`` with the acting user; the IP comes from a context variable that
``defender.middleware.AuditContextMiddleware`` sets for the duration of each request (the way
django-auditlog does), so services stay free of requests. Work done outside a request (workers,
commands) is recorded with no IP. Entries are written in the caller's transaction: a change that
rolls back leaves no entry.

Details must never carry secrets: record which fields changed, not their values.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.utils import timezone

from defender.models import AuditEntry

_request_ip: ContextVar[str | None] = ContextVar("audit_request_ip", default=None)


class AuditAction(models.TextChoices):
    """Every action the audit log knows, as stored in ``AuditEntry.action`` (a contract: filters and
    outside tooling read these keys)."""

    SIGN_IN = "auth.sign_in", "Signed in"
    SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
    SIGN_IN_BLOCKED = "auth.sign_in_blocked", "Sign-in blocked (too many failures)"
    SIGN_OUT = "auth.sign_out", "Signed out"
    USER_CREATE = "user.create", "User created"
    USER_SET_ROLE = "user.set_role", "User role changed"
    USER_ENABLE = "user.enable", "User enabled"
    USER_DISABLE = "user.disable", "User disabled"
    CONNECTOR_CREATE = "connector.create", "Connected app added"
    CONNECTOR_UPDATE = "connector.update", "Connected app settings changed"
    CONNECTOR_ENABLE = "connector.enable", "Connected app enabled"
    CONNECTOR_DISABLE = "connector.disable", "Connected app disabled"
    CONNECTOR_DELETE = "connector.delete", "Connected app deleted"
    POLICY_CREATE = "policy.create", "Policy created"
    POLICY_UPDATE = "policy.update", "Policy edited"
    POLICY_ENABLE = "policy.enable", "Policy enabled"
    POLICY_DISABLE = "policy.disable", "Policy disabled"
    POLICY_DELETE = "policy.delete", "Policy deleted"
    ALERT_ASSIGN = "alert.assign", "Alert assigned"
    ALERT_SET_STATUS = "alert.set_status", "Alert status changed"
    ALERT_RESOLVE = "alert.resolve", "Alert resolved"
    ALERT_REOPEN = "alert.reopen", "Alert reopened"
    ALERT_COMMENT = "alert.comment", "Alert comment added"
    GOVERNANCE_RUN = "governance.run", "Governance action requested"
    GOVERNANCE_RETRY = "governance.retry", "Governance action retried"
    GOVERNANCE_REVERT = "governance.revert", "Governance action reverted"
    GOVERNANCE_RESULT = "governance.result", "Governance action finished"


def client_ip(request) -> str | None:
    """The address the request came from. Behind a TLS proxy (BEHIND_TLS_PROXY) that is the last
    X-Forwarded-For hop, the one our own proxy appended; earlier hops are the client's to invent."""
    address = request.META.get("REMOTE_ADDR", "")
    if settings.BEHIND_TLS_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            address = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


@contextmanager
def audit_ip(ip: str | None) -> Iterator[None]:
    """Entries recorded inside the block carry ``ip``."""
    token = _request_ip.set(ip)
    try:
        yield
    finally:
        _request_ip.reset(token)


def _target_fields(target: Any) -> dict[str, str]:
    if target is None:
        return {}
    if isinstance(target, models.Model):
        return {
            "target_type": target._meta.model_name,
            "target_id": str(target.pk) if target.pk is not None else "",
            "target_label": str(target)[:300],
        }
    return {"target_label": str(target)[:300]}


def audit_record(
    *,
    action: str,
    target: Any = None,
    actor: AbstractBaseUser | None = None,
    details: dict[str, Any] | None = None,
    actor_name: str = "",
) -> AuditEntry:
    """Record one audit entry. ``target`` is a model instance (its type, id and name are kept, so the
    entry outlives it) or a plain label; ``actor`` is the person acting, None for the system;
    ``actor_name`` names an actor with no account (a failed sign-in's user name)."""
    person = actor if actor is not None and actor.is_authenticated else None
    return AuditEntry.objects.create(
        at=timezone.now(),
        actor=person,
        actor_name=(person.get_username() if person else actor_name)[:150],
        action=action,
        details=details or {},
        ip=_request_ip.get(),
        **_target_fields(target),
    )


def audit_governance_run(*, run: Any, action: str, actor: AbstractBaseUser | None = None) -> AuditEntry:
    """Governance hook: call with ``AuditAction.GOVERNANCE_RUN`` when a run is requested (``actor``
    the person, or None when a policy triggered it), ``GOVERNANCE_RETRY`` / ``GOVERNANCE_REVERT``
    when someone retries or reverts it, and ``GOVERNANCE_RESULT`` when it finishes."""
    policy = getattr(run, "policy", None)
    details = {
        "action": run.action,
        "target": run.target,
        "status": run.status,
        "alert_id": getattr(run, "alert_id", None),
        "policy": policy.name if policy is not None else None,
    }
    if run.error:
        details["error"] = run.error
    return audit_record(action=action, target=run, actor=actor, details=details)


# Sign-ins and sign-outs come from django.contrib.auth's signals (connected in DefenderConfig.ready):
# they cover the login form, the admin site and any later sign-in path alike.


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    with audit_ip(client_ip(request) if request is not None else None):
        audit_record(action=AuditAction.SIGN_IN, target=user, actor=user)


def on_user_logged_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    with audit_ip(client_ip(request) if request is not None else None):
        audit_record(action=AuditAction.SIGN_OUT, target=user, actor=user)


def on_user_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # credentials arrive cleansed by Django (the password is starred out); only the name is kept.
    username = str(credentials.get("username", ""))
    with audit_ip(client_ip(request) if request is not None else None):
        audit_record(action=AuditAction.SIGN_IN_FAILED, target=username, actor_name=username)
