"""Making, finding and revoking API tokens; the one place that knows a token's format and how it is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from webadmit_dash.api.models import ApiToken

# Scripts (and secret scanners) recognise our tokens by this start.
TOKEN_PREFIX = "wdash_"  # noqa: S105 - not a secret: the start every token shares
PREFIX_SHOWN = len(TOKEN_PREFIX) + 6
# last_used_at is written at most this often per token: a script calling every second must not write every time.
LAST_USED_PRECISION = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 200


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the only time it exists outside the script that will hold it


def create(user: User, name: str, *, can_act: bool = False) -> NewToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100], prefix=secret[:PREFIX_SHOWN], digest=digest(secret), can_act=can_act
    )
    return NewToken(token, secret)


def authenticate(secret: str) -> User | None:
    """The active user a token belongs to; None for an unknown or revoked token or an inactive user."""
    token = find(secret)
    return token.user if token is not None else None


def find(secret: str) -> ApiToken | None:
    """The active token of an active user (its last use noted); None for an unknown or revoked token or an inactive
    user."""
    if not secret or len(secret) > MAX_TOKEN_LENGTH:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest(secret), revoked_at__isnull=True).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def revoke(user: User, token_id: int) -> bool:
    """Revokes one of the user's own tokens; False when they have no such active token."""
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )
