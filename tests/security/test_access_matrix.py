"""Every URL and API endpoint, for anonymous, reader, operator and admin: the roles below a URL's
minimum are refused, the others are let through. The URLs come from Django's resolver, so a new URL
fails ``test_every_url_is_classified`` until it is given its minimum role in ``routes.ACCESS``."""

import pytest
from django.test import Client

from tests.security.routes import (
    ACCESS,
    ADMIN,
    OPERATOR,
    PUBLIC,
    READER,
    SIGNED_IN,
    all_patterns,
    checked_routes,
)

pytestmark = pytest.mark.django_db

ROUTES = checked_routes()
RANK = {None: 0, READER: 1, OPERATOR: 2, ADMIN: 3}
MINIMUM_RANK = {PUBLIC: 0, SIGNED_IN: 1, READER: 1, OPERATOR: 2, ADMIN: 3}
LOGIN = "/accounts/login/"


def test_every_url_is_classified():
    unclassified = [f"{r.name} ({r.pattern})" for r in ROUTES if r.name not in ACCESS]
    assert not unclassified, f"Give these URLs their minimum role in tests/security/routes.py: {unclassified}"


def test_every_url_has_a_name():
    unnamed = [found.route for found in all_patterns() if found.checked and found.name is None]
    assert not unnamed, f"Name these URL patterns so their access can be classified: {unnamed}"


def test_the_table_names_no_url_that_is_gone():
    assert not set(ACCESS) - {r.name for r in ROUTES}


def _request(client: Client, method: str, url: str, is_api: bool):
    if is_api:
        return client.generic(method, url, data="{}", content_type="application/json")
    return client.generic(
        method, url, data="" if method == "GET" else "x=1", content_type="application/x-www-form-urlencoded"
    )


def _refused(response, *, anonymous: bool, is_api: bool) -> bool:
    if anonymous and not is_api:
        return response.status_code == 302 and response["Location"].startswith(LOGIN)
    return response.status_code in (401, 403)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.name in ACCESS], ids=lambda r: r.name)
def test_access_matrix(request, route):
    users = {None: None, READER: request.getfixturevalue("reader")}
    users[OPERATOR] = request.getfixturevalue("operator")
    users[ADMIN] = request.getfixturevalue("admin")
    url = route.url()
    failures = []
    for method, minimum in ACCESS[route.name].items():
        for role, user in users.items():
            client = Client()
            if user is not None:
                client.force_login(user)
            response = _request(client, method, url, route.is_api)
            allowed = RANK[role] >= MINIMUM_RANK[minimum]
            refused = _refused(response, anonymous=user is None, is_api=route.is_api)
            if allowed and (refused or response.status_code == 405):
                failures.append(
                    f"{method} {url} as {role or 'anonymous'}: {response.status_code}, expected access"
                )
            if not allowed and not refused:
                failures.append(
                    f"{method} {url} as {role or 'anonymous'}: {response.status_code}, expected refusal"
                )
    assert not failures, "\n".join(failures)
