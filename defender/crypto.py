"""Encryption of secrets at rest (connector and identity-provider secrets).

FIELD_ENCRYPTION_KEY holds one Fernet key, or several separated by commas, newest first: the first
encrypts, all of them decrypt. To rotate, put a new key in front, run
``manage.py rotate_encryption_key`` (which re-encrypts every stored secret with it), then drop the
old keys.

Every column that holds a secret is an ``EncryptedTextField`` and stores a Fernet token, which the
model encrypts and decrypts through ``encrypt`` / ``decrypt`` (typically behind a property). The
rotation finds such columns by their field class across every installed model, so a secret added
later is rotated as soon as it uses the field.
"""

from collections.abc import Iterator
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db import models, transaction


class SecretUnreadable(Exception):
    """The stored secret was encrypted with a key that is no longer configured."""


@cache
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])


def encrypt(plaintext: str) -> str:
    return _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY; re-enter it."
        ) from error


class EncryptedTextField(models.TextField):
    """A column holding a Fernet token made by ``encrypt`` (empty: no secret). Not editable in forms
    or the admin: the plaintext is set through the model's own setter."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        # Stored exactly like a TextField: migrations record a TextField, so adopting this class for
        # an existing column (or moving the class) never needs a migration.
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.TextField", args, kwargs


def encrypted_fields() -> Iterator[tuple[type[models.Model], EncryptedTextField]]:
    """Every encrypted column of every installed (concrete, managed) model."""
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


def rotate_tokens(*, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every stored secret with the newest key; returns how many values per
    ``app_label.Model.field``. Raises ``SecretUnreadable`` (and changes nothing in that column) if
    a value was encrypted with a key that is no longer configured."""
    fernet = _fernet(settings.FIELD_ENCRYPTION_KEY)
    counts: dict[str, int] = {}
    for model, field in encrypted_fields():
        label = f"{model._meta.label}.{field.name}"
        rows = (
            model._default_manager.exclude(**{field.attname: ""})
            .exclude(**{f"{field.attname}__isnull": True})
            .values_list("pk", field.attname)
        )
        rotated = 0
        with transaction.atomic():
            for pk, token in rows.iterator(chunk_size=batch_size):
                try:
                    fresh = fernet.rotate(token.encode()).decode()
                except InvalidToken as error:
                    raise SecretUnreadable(
                        f"{label} of row {pk} cannot be decrypted with any key in FIELD_ENCRYPTION_KEY; "
                        "add the key it was encrypted with (after the new one) and run again."
                    ) from error
                model._default_manager.filter(pk=pk).update(**{field.attname: fresh})
                rotated += 1
        counts[label] = rotated
    return counts
