"""Every form and every API write checks the CSRF token: a signed-in administrator's browser POSTing
without one (what a hostile page would make it do) is refused with 403 everywhere."""

import pytest
from django.test import Client

from tests.security.routes import ACCESS, PUBLIC, checked_routes

pytestmark = pytest.mark.django_db

WRITES = [
    (route, method) for route in checked_routes() for method in ACCESS.get(route.name, {}) if method != "GET"
]
SIGN_IN = [(route, "POST") for route in checked_routes() if ACCESS.get(route.name) == {"GET": PUBLIC}]


@pytest.mark.parametrize(("route", "method"), WRITES + SIGN_IN, ids=lambda v: getattr(v, "name", v))
def test_post_without_a_csrf_token_is_refused(admin, route, method):
    client = Client(enforce_csrf_checks=True)
    if ACCESS[route.name] != {"GET": PUBLIC}:
        client.force_login(admin)
    response = client.generic(
        method, route.url(), data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 403, f"{method} {route.url()} answered {response.status_code}"
    assert b"CSRF" in response.content


def test_every_write_url_is_covered():
    assert len(WRITES) > 40 and {r.name for r, _ in WRITES} >= {"logout", "connector-list", "policies:detail"}
