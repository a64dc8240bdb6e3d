"""Encryption at rest for API keys (and other secrets): Fernet tokens under the keys in settings.ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so an operator rotates by putting a new key first, running
`manage.py rotate_encryption_keys`, then dropping the old key. Every model field holding such a token is registered
here (`register`), so the rotation re-encrypts them all, whichever app they belong to.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class UndecryptableSecret(Exception):
    """A stored secret that none of the configured ENCRYPTION_KEYS can open."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode("ascii")) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise UndecryptableSecret(
            "A stored API key cannot be decrypted with any key in ENCRYPTION_KEYS; "
            "was an old encryption key removed before rotation?"
        ) from None


def reencrypt(token: str) -> str:
    """Returns the token re-encrypted under the first (newest) key."""
    try:
        return _current().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise UndecryptableSecret("A stored API key cannot be decrypted with any key in ENCRYPTION_KEYS.") from None


# (model, names of its fields holding tokens), registered by each app that stores secrets.
ENCRYPTED_FIELDS: list[tuple[type[models.Model], tuple[str, ...]]] = []


def register(model: type[models.Model], *fields: str) -> None:
    if (model, fields) not in ENCRYPTED_FIELDS:
        ENCRYPTED_FIELDS.append((model, fields))
