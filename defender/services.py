"""Writes on users and roles. Every role change goes through here so it stays one transaction."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction

from defender.audit import AuditAction, audit_record
from defender.roles import Role, user_role


def role_choices() -> list[tuple[str, str]]:
    return list(Role.choices)


def role_of(user: AbstractBaseUser) -> str:
    role = user_role(user)
    return role.value if role else ""


@transaction.atomic
def user_set_role(*, user: AbstractBaseUser, role: str, by: AbstractBaseUser | None = None) -> None:
    chosen = Role(role)
    role_groups = Group.objects.filter(name__in=Role.labels)
    previous = user_role(user)
    user.groups.remove(*role_groups)
    user.groups.add(Group.objects.get(name=chosen.label))
    if by is not None and previous != chosen:
        audit_record(
            action=AuditAction.USER_SET_ROLE,
            target=user,
            actor=by,
            details={"from": previous.label if previous else "No role", "to": chosen.label},
        )


@transaction.atomic
def user_create(
    *,
    username: str,
    role: str,
    password: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    by: AbstractBaseUser | None = None,
) -> AbstractBaseUser:
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(f"A user named {username} already exists.")
    user = User.objects.create_user(
        username=username, email=email, password=password, first_name=first_name, last_name=last_name
    )
    user_set_role(user=user, role=role)
    audit_record(action=AuditAction.USER_CREATE, target=user, actor=by, details={"role": Role(role).label})
    return user


@transaction.atomic
def user_set_active(*, user: AbstractBaseUser, active: bool, by: AbstractBaseUser) -> None:
    if user.pk == by.pk and not active:
        raise ValidationError("You cannot disable your own account.")
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit_record(
        action=AuditAction.USER_ENABLE if active else AuditAction.USER_DISABLE, target=user, actor=by
    )
