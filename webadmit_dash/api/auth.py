"""`Authorization: Bearer <token>` for the API: the token's user becomes request.user, so every lookup below goes
through the same access function (core.access.visible_identities) as the pages."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja.security import HttpBearer

from webadmit_dash.api import tokens


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = tokens.authenticate(token)
        if user is not None:
            request.user = user
        return user
