"""Personal API tokens (user menu > API tokens) and the DRF authentication that accepts them.

A token is ``dfa_`` followed by 43 random URL-safe characters (256 bits). Only its SHA-256 is stored,
so a token is found by looking its hash up: nothing compares secrets character by character, and a
stolen database does not yield usable tokens. The secret is shown once, when the token is created.
Requests send ``Authorization: Bearer <token>`` (``Token <token>`` is accepted too) and act as the
token's user with that user's current role.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from defender.audit import audit_record
from defender.models import ApiToken
from defender.roles import Perm

TOKEN_PREFIX = "dfa_"
# "dfa_" and 8 characters of the secret: enough to tell tokens apart, far too little to guess one.
VISIBLE_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
EXPIRY_CHOICES = [(30, "30 days"), (90, "90 days"), (365, "1 year"), (0, "No expiry")]
DEFAULT_EXPIRY_DAYS = 90
# last_used_at is a hint for people, not an access log: writing it on every request would turn each
# API read into a database write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
AUTH_KEYWORDS = ("bearer", "token")

# Audit log action keys (the audit log shows unknown keys as they are).
AUDIT_TOKEN_CREATE = "api_token.create"
AUDIT_TOKEN_REVOKE = "api_token.revoke"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token just created, with the secret that is never available again."""

    token: ApiToken
    secret: str


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser, name: str, expires_in_days: int) -> IssuedToken:
    """Issue a token for ``user``; ``expires_in_days`` is one of EXPIRY_CHOICES (0: never)."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name that says what it is for."})
    if expires_in_days not in dict(EXPIRY_CHOICES):
        raise ValidationError({"expires_in_days": "Choose 30 days, 90 days, 1 year or no expiry."})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:VISIBLE_PREFIX_LENGTH],
        key_hash=token_hash(secret),
        expires_at=expires_at,
    )
    audit_record(
        action=AUDIT_TOKEN_CREATE,
        target=token,
        actor=user,
        details={"expires_at": expires_at.isoformat() if expires_at else None},
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: AbstractBaseUser) -> ApiToken:
    """Revoke ``token`` now; revoking it again changes nothing."""
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=by
    ):
        audit_record(
            action=AUDIT_TOKEN_REVOKE, target=token, actor=by, details={"owner": token.user.get_username()}
        )
    token.refresh_from_db()
    return token


def api_tokens_for(*, user: AbstractBaseUser, everyone: bool = False) -> QuerySet:
    """The tokens ``user`` may see and revoke: their own, or with ``everyone`` every user's tokens,
    which only Global administrators may ask for."""
    queryset = ApiToken.objects.select_related("user", "revoked_by")
    if everyone and user.has_perm(Perm.ADMINISTER):
        return queryset
    return queryset.filter(user=user)


def api_token_state(token: ApiToken) -> str:
    """``active``, ``expired`` or ``revoked``: what the token list shows as a pill."""
    if token.revoked_at:
        return "revoked"
    if token.expires_at and token.expires_at <= timezone.now():
        return "expired"
    return "active"


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer dfa_...`` (or ``Token dfa_...``). A missing header leaves the request to
    the next authentication (the console session); a wrong, expired or revoked token is a 401 that
    says which."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].decode("latin-1").lower() not in AUTH_KEYWORDS:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                "Malformed Authorization header: send 'Bearer <token>'.", code="token_malformed"
            )
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("This API token is not valid.", code="token_invalid") from None
        token = ApiToken.objects.select_related("user").filter(key_hash=token_hash(secret)).first()
        if token is None:
            raise AuthenticationFailed("This API token is not valid.", code="token_invalid")
        now = timezone.now()
        if token.revoked_at:
            raise AuthenticationFailed("This API token was revoked.", code="token_revoked")
        if token.expires_at and token.expires_at <= now:
            raise AuthenticationFailed(
                f"This API token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC.", code="token_expired"
            )
        if not token.user.is_active:
            raise AuthenticationFailed("The token's user is disabled.", code="user_inactive")
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
            ).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes unauthenticated API requests 401 (with this challenge) rather than 403.
        return 'Bearer realm="api"'
