"""Settings come from the environment; production refuses to start without its secrets."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from defender import secrets

ROOT = Path(__file__).resolve().parents[2]
# DJANGO_ALLOW_ASYNC_UNSAFE is the browser tests' setting; check --deploy rightly warns about it.
OVERRIDDEN = {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in OVERRIDDEN}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
def test_production_refuses_to_start_without_secrets(missing):
    env = {"DEBUG": "False", "SECRET_KEY": "x" * 60, "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    del env[missing]
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} is required when DEBUG is off" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    env = {
        "DEBUG": "False",
        "SECRET_KEY": secrets.GENERATORS["SECRET_KEY"](),
        "FIELD_ENCRYPTION_KEY": secrets.GENERATORS["FIELD_ENCRYPTION_KEY"](),
        "ALLOWED_HOSTS": "defender.example.com",
    }
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_embedded_default_generates_private_secrets_once(tmp_path):
    first = secrets.load_or_generate("FIELD_ENCRYPTION_KEY", tmp_path)
    assert secrets.load_or_generate("FIELD_ENCRYPTION_KEY", tmp_path) == first
    Fernet(first.encode())
    mode = stat.S_IMODE((tmp_path / "field_encryption_key").stat().st_mode)
    assert mode == 0o600
