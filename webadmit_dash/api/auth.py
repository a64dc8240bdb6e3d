"""`Authorization: Bearer <token>` for the API: the token's user becomes request.user, so every lookup below goes
through the same access function (core.access.visible_identities) as the pages."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja.security import HttpBearer

from webadmit_dash.api import tokens


class BearerToken(HttpBearer):
    """Any active token: what its user may read."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = tokens.find(token)
        if found is None:
            return None
        request.user = found.user
        return found.user


class ActingToken(HttpBearer):
    """A token made to act (ApiToken.can_act), for the calls that do what a page's button does. A read-only token
    is refused as if it were no token (401): it never opened these calls."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = tokens.find(token)
        if found is None or not found.can_act:
            return None
        request.user = found.user
        return found.user
