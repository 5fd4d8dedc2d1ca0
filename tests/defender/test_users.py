import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from defender.roles import Role, user_role

pytestmark = pytest.mark.django_db


def test_admin_creates_a_user_with_a_role(client_for, admin):
    response = client_for(admin).post(
        reverse("defender:user_create"),
        {
            "username": "new-analyst",
            "email": "na@example.com",
            "role": "operator",
            "password": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 302
    created = get_user_model().objects.get(username="new-analyst")
    assert user_role(created) == Role.OPERATOR
    assert created.has_perm("defender.operate")
    assert not created.has_perm("defender.administer")


def test_weak_password_and_duplicate_name_are_form_errors(client_for, admin):
    response = client_for(admin).post(
        reverse("defender:user_create"),
        {"username": admin.username.upper(), "role": "reader", "password": "123"},
    )
    assert response.status_code == 200
    assert b"A user with this name already exists." in response.content
    assert b"This password is too short" in response.content
    assert get_user_model().objects.count() == 1


def test_operator_cannot_create_users(client_for, operator):
    response = client_for(operator).post(
        reverse("defender:user_create"),
        {"username": "sneaky", "role": "admin", "password": "a-long-enough-passphrase"},
    )
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="sneaky").exists()


def test_admin_changes_a_role(client_for, admin, reader):
    response = client_for(admin).post(reverse("defender:user_edit", args=[reader.pk]), {"role": "operator"})
    assert response.status_code == 302
    reader.refresh_from_db()
    assert user_role(reader) == Role.OPERATOR
    assert reader.groups.count() == 1


def test_disable_and_enable(client_for, admin, reader):
    url = reverse("defender:user_set_active", args=[reader.pk])
    client_for(admin).post(url, {"active": "0"})
    reader.refresh_from_db()
    assert not reader.is_active
    client_for(admin).post(url, {"active": "1"})
    reader.refresh_from_db()
    assert reader.is_active


def test_reader_cannot_disable(client_for, reader, operator):
    response = client_for(reader).post(
        reverse("defender:user_set_active", args=[operator.pk]), {"active": "0"}
    )
    assert response.status_code == 403
    operator.refresh_from_db()
    assert operator.is_active


def test_users_list_filters_by_role(client_for, admin, operator, reader):
    response = client_for(admin).get(reverse("defender:users"), {"role": "reader"})
    assert reader.username.encode() in response.content
    assert operator.username.encode() not in response.content


def test_sign_in_and_out(client, reader):
    response = client.post(
        reverse("login"), {"username": reader.username, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post(reverse("logout"))
    assert client.get("/").status_code == 302


def test_wrong_password_says_so(client, reader):
    response = client.post(reverse("login"), {"username": reader.username, "password": "nope"})
    assert b"Your user name or password is incorrect" in response.content
