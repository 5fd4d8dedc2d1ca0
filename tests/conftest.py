import pytest
from django.test import Client

from defender import services

pytest_plugins = ["localaws.testing", "tests.workers", "tests.aws_fixtures"]


def _make_user(username: str, role: str):
    return services.user_create(
        username=username, role=role, password="correct-horse-battery", email=f"{username}@example.com"
    )


@pytest.fixture
def admin(db):
    """A Global administrator."""
    return _make_user("alice-admin", "admin")


@pytest.fixture
def operator(db):
    """A Security operator."""
    return _make_user("oscar-operator", "operator")


@pytest.fixture
def reader(db):
    """A Security reader."""
    return _make_user("rita-reader", "reader")


@pytest.fixture
def client_for(db):
    """client_for(user) -> a test client signed in as that user."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


PASSWORD = "correct-horse-battery"
