"""Secrets of the embedded default: generated once into VAR_DIR, readable by the owner only."""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

GENERATORS = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(64),
    "FIELD_ENCRYPTION_KEY": lambda: Fernet.generate_key().decode(),
}


def load_or_generate(name: str, var_dir: Path) -> str:
    """Return the secret stored in ``var_dir``, creating it with mode 0600 on first use."""
    path = var_dir / name.lower()
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = GENERATORS[name]()
    # O_EXCL: two processes starting together must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def require(name: str, value: str) -> str:
    if not value:
        raise ImproperlyConfigured(
            f"{name} is required when DEBUG is off. Set it in the environment or in .env "
            f'(generate one with: python -c "from defender.secrets import GENERATORS; '
            f"print(GENERATORS['{name}']())\"). Only the embedded default (DEBUG=True) "
            f"generates secrets into var/."
        )
    return value
