"""Every page needs a signed-in user, and every page checks the role."""

import pytest
from django.urls import reverse

from defender.navigation import nav_items
from defender.roles import Perm

pytestmark = pytest.mark.django_db

READ_PAGES = [item.url_name for item in nav_items() if item.perm == Perm.VIEW]
ADMIN_PAGES = ["defender:users", "defender:user_create"]


@pytest.mark.parametrize("url_name", READ_PAGES + ADMIN_PAGES + ["password_change"])
def test_anonymous_is_sent_to_sign_in(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.smoke
@pytest.mark.parametrize("role", ["admin", "operator", "reader"])
@pytest.mark.parametrize("url_name", READ_PAGES)
def test_every_role_reads_every_console_page(request, client_for, role, url_name):
    user = request.getfixturevalue(role)
    response = client_for(user).get(reverse(url_name))
    assert response.status_code == 200
    assert b'id="sidenav"' in response.content


@pytest.mark.parametrize("url_name", ADMIN_PAGES)
def test_only_admins_manage_users(client_for, admin, operator, reader, url_name):
    assert client_for(admin).get(reverse(url_name)).status_code == 200
    assert client_for(operator).get(reverse(url_name)).status_code == 403
    assert client_for(reader).get(reverse(url_name)).status_code == 403


def test_navigation_hides_users_and_roles_from_non_admins(client_for, admin, reader):
    users_url = reverse("defender:users").encode()
    assert users_url in client_for(admin).get("/").content
    assert users_url not in client_for(reader).get("/").content


@pytest.mark.parametrize("url_name", READ_PAGES)
def test_user_without_a_role_sees_no_console_page(client_for, django_user_model, url_name):
    nobody = django_user_model.objects.create_user("nobody", password="correct-horse-battery")
    response = client_for(nobody).get(reverse(url_name))
    assert response.status_code == 403
    assert b"Your account has no role yet" in response.content
