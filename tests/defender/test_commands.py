import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from defender.roles import Role, user_role

pytestmark = pytest.mark.django_db


def test_create_user_with_role():
    call_command("create_user", "carol", "--role", "reader", "--password", "a-long-enough-passphrase")
    carol = get_user_model().objects.get(username="carol")
    assert user_role(carol) == Role.READER
    assert carol.check_password("a-long-enough-passphrase")


def test_create_user_refuses_existing_without_update():
    call_command("create_user", "carol", "--role", "reader", "--password", "a-long-enough-passphrase")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", "carol", "--role", "admin", "--password", "a-long-enough-passphrase")
    call_command(
        "create_user", "carol", "--role", "admin", "--password", "another-long-passphrase", "--update"
    )
    carol = get_user_model().objects.get(username="carol")
    assert user_role(carol) == Role.ADMIN
    assert carol.check_password("another-long-passphrase")


def test_roles_exist_after_migrate():
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.labels)
    assert Group.objects.get(name="Security reader").permissions.count() == 1
