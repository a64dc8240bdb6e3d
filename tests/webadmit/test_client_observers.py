"""Every call the client makes is reported to its observers (the metrics' hook): which endpoint, which status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from webadmit_dash.webadmit import WebAdmitError
from webadmit_dash.webadmit import client as client_module

from .conftest import BASE_URL, raw_payload


@pytest.fixture
def seen() -> Iterator[list[tuple[str, str, float]]]:
    calls: list[tuple[str, str, float]] = []

    def observer(endpoint: str, status: str, seconds: float) -> None:
        calls.append((endpoint, status, seconds))

    client_module.observe_calls(observer)
    client_module.observe_calls(observer)  # subscribing twice counts once
    try:
        yield calls
    finally:
        client_module._call_observers.remove(observer)


def test_each_call_is_reported_with_its_endpoint_and_status(client, mocked, seen):
    mocked.get(f"{BASE_URL}/api/v1/user_identities/7/export_files", body=raw_payload("e6_export_files.json"))
    mocked.get(f"{BASE_URL}/api/v1/user_identities/7/exports", status=429, json={"message": "Rate limit exceeded"})
    client.list_export_files(7)
    with pytest.raises(WebAdmitError):
        client.list_exports(7)
    assert [(endpoint, status) for endpoint, status, _ in seen] == [("E6", "200"), ("E3", "429")]
    assert all(seconds >= 0 for _, _, seconds in seen)


def test_a_call_that_got_no_answer_is_reported_as_such(client, mocked, seen):
    mocked.get(f"{BASE_URL}/api/v1/user_identities", body=requests.ConnectionError("refused"))
    with pytest.raises(WebAdmitError):
        client.list_user_identities()
    assert [(endpoint, status) for endpoint, status, _ in seen] == [("E1", "no_response")]


def test_a_failing_observer_never_fails_the_call(client, mocked, seen):
    def broken(endpoint: str, status: str, seconds: float) -> None:
        raise RuntimeError("metrics are down")

    client_module.observe_calls(broken)
    try:
        mocked.get(f"{BASE_URL}/api/v1/user_identities/7/export_files", body=raw_payload("e6_export_files.json"))
        assert client.list_export_files(7)
    finally:
        client_module._call_observers.remove(broken)
    assert [(endpoint, status) for endpoint, status, _ in seen] == [("E6", "200")]
