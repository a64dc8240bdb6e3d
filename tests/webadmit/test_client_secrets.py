"""The API key and download URLs never leave the client: not in logs, errors, reprs or exception chains."""

from __future__ import annotations

import pytest
import requests
import responses

from webadmit_dash.webadmit import WebAdmitClient, WebAdmitError

from .conftest import API_KEY, BASE_URL, raw_payload

E5_URL = f"{BASE_URL}/api/v1/exports/335158/export_files/267520"
E6_URL = f"{BASE_URL}/api/v1/user_identities/999/export_files"
# One of each failure, and the calls that succeed, so every log line and error the client can make is seen.
FAILURES: list[dict[str, object]] = [
    {"status": 401, "body": b""},
    {"status": 403},
    {"status": 404, "body": raw_payload("error_404_identity.json")},
    {"status": 422, "body": raw_payload("error_422.json")},
    {"status": 429, "headers": {"Retry-After": "30"}},
    {"status": 500},
    {"status": 503},
    {"status": 302, "headers": {"Location": "https://elsewhere.example/"}},
    {"body": b"not json"},
    {"body": b'{"export_files": [{}]}'},
    {"body": requests.exceptions.ReadTimeout(f"timed out, headers {{'x-api-key': '{API_KEY}'}}")},
    {"body": requests.exceptions.ConnectionError(f"refused with x-api-key {API_KEY}")},
    {"body": requests.exceptions.SSLError(f"bad certificate {API_KEY}")},
    {"body": requests.exceptions.InvalidHeader(f"Invalid return character in header value: {API_KEY!r}")},
]


def collect_errors(client: WebAdmitClient, mocked: responses.RequestsMock) -> list[WebAdmitError]:
    errors = []
    for failure in FAILURES:
        mocked.upsert(responses.GET, E6_URL, **failure)
        with pytest.raises(WebAdmitError) as caught:
            client.list_export_files(999)
        errors.append(caught.value)
    return errors


def test_the_key_is_in_no_log_line_error_or_repr(
    client: WebAdmitClient, mocked: responses.RequestsMock, debug_log: pytest.LogCaptureFixture
) -> None:
    mocked.get(f"{BASE_URL}/api/v1/user_identities", body=raw_payload("e1_user_identities.json"))
    mocked.get(E5_URL, body=raw_payload("e5_available.json"))
    client.list_user_identities()
    link = client.get_download_link(335158, 267520)

    errors = collect_errors(client, mocked)

    assert len(errors) == len(FAILURES)
    assert debug_log.records, "the client should log its calls at DEBUG"
    for record in debug_log.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(record.args)
    for error in errors:
        assert API_KEY not in str(error)
        assert API_KEY not in repr(error)
        assert API_KEY not in repr(error.args)
        assert API_KEY not in repr(vars(error))
        # A chained requests exception would carry the prepared request, headers included.
        assert error.__cause__ is None
        assert error.__context__ is None
    assert API_KEY not in repr(client)
    assert API_KEY not in repr(vars(client))
    assert link.url is not None
    assert link.url not in debug_log.text
    assert "Signature=" not in debug_log.text


def test_the_client_repr_names_the_credential_and_base_url(client: WebAdmitClient) -> None:
    assert repr(client) == "<WebAdmitClient credential='Nursing' base_url='https://api.webadmit.org'>"


def test_a_key_that_cannot_be_sent_is_rejected_without_showing_it(mocked: responses.RequestsMock) -> None:
    bad_key = "abc\ndef" + API_KEY
    client = WebAdmitClient(BASE_URL, bad_key, credential_name="Nursing")

    with pytest.raises(WebAdmitError) as caught:
        client.list_export_files(999)

    assert caught.value.kind == "key_rejected"
    assert caught.value.permanent
    assert API_KEY not in str(caught.value)
    assert caught.value.__context__ is None
