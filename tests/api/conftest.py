"""The API's test world: the shared users with tokens, and files in their identities."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from webadmit_dash.api import tokens


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear()  # counts are cached per identity id, which rolled-back tests reuse
    yield
    cache.clear()


@pytest.fixture
def token_for() -> Callable[[User], str]:
    def make(user: User, name: str = "script") -> str:
        return tokens.create(user, name).secret

    return make


class ApiClient:
    """Django's test client sending `Authorization: Bearer <token>`, as a script would."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.token = token

    def get(self, path: str, data: dict | None = None, **extra):
        if self.token is not None:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        return self.client.get(path, data or {}, **extra)

    def post(self, path: str, **extra):
        if self.token is not None:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        return self.client.post(path, **extra)


@pytest.fixture
def api_as(token_for) -> Callable[[User | None], ApiClient]:
    return lambda user: ApiClient(token_for(user) if user is not None else None)


@pytest.fixture
def acting_api_as() -> Callable[[User], ApiClient]:
    """A client with a token made to act (Deliver again), as its user chose on the tokens page."""
    return lambda user: ApiClient(tokens.create(user, "acting script", can_act=True).secret)
