"""Reaching the services CI runs (PostgreSQL, Redis): skip on a laptop without them, fail in CI."""

from __future__ import annotations

import os

import pytest


def service_unavailable(name: str, url: str, reason: str) -> None:
    message = f"{name} is not reachable at {url} ({reason})"
    if os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}; REQUIRE_SERVICES is set, so this is a failure, not a skip")
    pytest.skip(f"{message}; start {name} to run this test")
