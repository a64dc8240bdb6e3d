"""Encryption at rest for API keys: Fernet tokens under the keys in settings.ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so an operator rotates by putting a new key first, running
`manage.py rotate_encryption_keys`, then dropping the old key.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


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
