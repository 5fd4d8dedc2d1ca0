"""The three roles of the console and the permission checks every view and API uses.

Roles are Django groups made of the permissions on ``defender.Console``. A user's role is the
highest group they belong to; superusers count as global administrators.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import models
from rest_framework.permissions import SAFE_METHODS, BasePermission


class Role(models.TextChoices):
    ADMIN = "admin", "Global administrator"
    OPERATOR = "operator", "Security operator"
    READER = "reader", "Security reader"


class Perm:
    VIEW = "defender.view_console"
    OPERATE = "defender.operate"
    ADMINISTER = "defender.administer"


ROLE_PERMISSIONS: dict[Role, tuple[str, ...]] = {
    Role.ADMIN: ("view_console", "operate", "administer"),
    Role.OPERATOR: ("view_console", "operate"),
    Role.READER: ("view_console",),
}

ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.ADMIN: "Connects AWS accounts, manages IP ranges, identity provider, users and roles, "
    "and everything an operator does.",
    Role.OPERATOR: "Triages alerts, runs governance actions and edits policies.",
    Role.READER: "Sees everything, changes nothing.",
}


def roles_sync(**kwargs) -> None:
    """Create or repair the role groups after every migrate (idempotent)."""
    perms = {p.codename: p for p in Permission.objects.filter(content_type__app_label="defender")}
    if not perms:
        return
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.label)
        group.permissions.set([perms[c] for c in codenames if c in perms])


def user_role(user: AbstractBaseUser) -> Role | None:
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = {g.name for g in user.groups.all()}
    for role in Role:
        if role.label in names:
            return role
    return None


def require_perm(perm: str) -> Callable:
    """View decorator: 403 unless the signed-in user holds ``perm``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise PermissionDenied("Your role does not allow this action.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class RolePermission(BasePermission):
    """API: reading needs view_console; writing needs the view's ``write_perm`` (default operate)."""

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return user.has_perm(Perm.VIEW)
        return user.has_perm(getattr(view, "write_perm", Perm.OPERATE))
