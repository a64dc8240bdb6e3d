"""Fixtures for the client tests: a client for credential 'Nursing', the transport faked by `responses`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from webadmit_dash.webadmit import WebAdmitClient

BASE_URL = "https://api.webadmit.org"
API_KEY = "9c1e4a7b2d5f8a0c3e6b9d2f5a8c1e4b"
PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> Any:
    """A recorded WebAdMIT response body, parsed."""
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def raw_payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client(mocked: responses.RequestsMock) -> WebAdmitClient:
    return WebAdmitClient(BASE_URL, API_KEY, credential_name="Nursing")


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures everything under `webadmit_dash` at DEBUG, even where settings stop it propagating to the root."""
    logger = logging.getLogger("webadmit_dash")
    level = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)
