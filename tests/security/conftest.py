import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """These tests create the three users in many tests; the real hasher's cost buys nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
