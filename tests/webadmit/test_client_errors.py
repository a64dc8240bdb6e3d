"""Every way a WebAdMIT call can fail ends as one error of the family: its class, whether retrying can help, a
machine name, and a message a person can act on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import responses

from webadmit_dash.webadmit import (
    BadResponse,
    KeyRejected,
    NotFound,
    RateLimit,
    RateLimited,
    RequestRejected,
    UpstreamUnavailable,
    WebAdmitClient,
    WebAdmitError,
)

from .conftest import BASE_URL, raw_payload

URL = f"{BASE_URL}/api/v1/user_identities/999/export_files"


def call_and_catch(client: WebAdmitClient) -> WebAdmitError:
    with pytest.raises(WebAdmitError) as caught:
        client.list_export_files(999)
    return caught.value


def assert_kind(error: WebAdmitError, cls: type[WebAdmitError], *, permanent: bool, kind: str) -> None:
    assert type(error) is cls
    assert error.permanent is permanent
    assert error.kind == kind
    assert str(error) == error.message


def test_401_with_an_empty_body_is_a_rejected_key(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=401, body=b"")

    error = call_and_catch(client)

    assert_kind(error, KeyRejected, permanent=True, kind="key_rejected")
    assert error.message == "WebAdMIT rejected the API key for credential 'Nursing'. Check the key in the admin."
    assert error.status_code == 401


def test_404_carries_webadmits_message(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=404, body=raw_payload("error_404_identity.json"))

    error = call_and_catch(client)

    assert_kind(error, NotFound, permanent=True, kind="not_found")
    assert error.message == "WebAdMIT says: User identity '999' not found. (credential 'Nursing')"
    assert isinstance(error, NotFound)
    assert error.upstream_message == "User identity '999' not found."


def test_webadmits_words_come_on_one_line_without_nul(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=404, json={"message": "User identity\x00 '999'\r\nnot   found."})

    error = call_and_catch(client)

    assert error.message == "WebAdMIT says: User identity '999' not found. (credential 'Nursing')"


def test_the_generic_404_reads_as_a_sentence(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=404, body=raw_payload("error_404_generic.json"))

    error = call_and_catch(client)

    assert_kind(error, NotFound, permanent=True, kind="not_found")
    assert error.message == "WebAdMIT says: Not Found. (credential 'Nursing')"


def test_a_404_without_a_body_names_the_call(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=404, body=b"<html>gone</html>")

    error = call_and_catch(client)

    assert_kind(error, NotFound, permanent=True, kind="not_found")
    assert "/api/v1/user_identities/999/export_files" in error.message


def test_429_is_rate_limited_with_retry_after_seconds(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(
        URL, status=429, headers={"Retry-After": "30", "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0"}
    )

    error = call_and_catch(client)

    assert_kind(error, RateLimited, permanent=False, kind="rate_limited")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 30.0
    assert error.message == "WebAdMIT's rate limit was reached for credential 'Nursing'; retrying after 30 s."
    assert client.rate_limit == RateLimit(limit=5000, remaining=0)


def test_retry_after_may_be_an_http_date(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    mocked.get(URL, status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})

    error = call_and_catch(client)

    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert 100 <= error.retry_after <= 120


def test_429_without_retry_after_leaves_the_wait_to_the_scheduler(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(URL, status=429, headers={"Retry-After": "soon"})

    error = call_and_catch(client)

    assert isinstance(error, RateLimited)
    assert error.retry_after is None
    assert error.message == "WebAdMIT's rate limit was reached for credential 'Nursing'; retrying later."


def test_403_with_no_calls_remaining_is_rate_limited(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=403, headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0"})

    error = call_and_catch(client)

    assert_kind(error, RateLimited, permanent=False, kind="rate_limited")
    assert error.status_code == 403


def test_any_other_403_is_a_rejected_key(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=403, headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4000"})

    error = call_and_catch(client)

    assert_kind(error, KeyRejected, permanent=True, kind="key_rejected")
    assert "refused access for credential 'Nursing' (HTTP 403)" in error.message
    assert "API Access" in error.message


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_upstream_unavailable(client: WebAdmitClient, mocked: responses.RequestsMock, status: int) -> None:
    mocked.get(URL, status=status, body=b"<h1>We're sorry, but something went wrong.</h1>")

    error = call_and_catch(client)

    assert_kind(error, UpstreamUnavailable, permanent=False, kind="unavailable")
    assert error.message == (f"WebAdMIT is unavailable (HTTP {status}) for credential 'Nursing'. Will try again later.")
    assert error.status_code == status


def test_a_timeout_is_upstream_unavailable(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, body=requests.exceptions.ReadTimeout("read timed out"))

    error = call_and_catch(client)

    assert_kind(error, UpstreamUnavailable, permanent=False, kind="unavailable")
    assert error.message == "WebAdMIT did not answer in time (credential 'Nursing'). Will try again later."
    assert error.status_code is None


def test_a_connect_timeout_is_a_timeout_too(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, body=requests.exceptions.ConnectTimeout("connect timed out"))

    error = call_and_catch(client)

    assert_kind(error, UpstreamUnavailable, permanent=False, kind="unavailable")
    assert "did not answer in time" in error.message


def test_a_refused_connection_is_upstream_unavailable(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, body=requests.exceptions.ConnectionError("Connection refused"))

    error = call_and_catch(client)

    assert_kind(error, UpstreamUnavailable, permanent=False, kind="unavailable")
    assert error.message.startswith("Could not connect to WebAdMIT at https://api.webadmit.org (credential 'Nursing')")


def test_a_tls_failure_is_upstream_unavailable(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, body=requests.exceptions.SSLError("certificate verify failed"))

    error = call_and_catch(client)

    assert_kind(error, UpstreamUnavailable, permanent=False, kind="unavailable")
    assert error.message.startswith("The secure (TLS) connection to WebAdMIT at https://api.webadmit.org failed")


def test_a_connection_that_actually_refuses_maps_the_same_way() -> None:
    # Port 9 (discard) on loopback is closed on any sane machine: a real refusal, not a mocked one.
    client = WebAdmitClient("http://127.0.0.1:9", "x" * 32, credential_name="Nursing", timeout=(1.0, 1.0))

    error = call_and_catch(client)

    assert_kind(error, UpstreamUnavailable, permanent=False, kind="unavailable")


def test_malformed_json_is_a_bad_response(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, body=b'{"export_files": [{"id": 1, "href": "/api/v1/exp', content_type="application/json")

    error = call_and_catch(client)

    assert_kind(error, BadResponse, permanent=False, kind="bad_response")
    assert error.message == (
        "WebAdMIT sent a response that is not a JSON object "
        "(GET /api/v1/user_identities/999/export_files, credential 'Nursing'). Will try again later."
    )
    assert error.status_code == 200


def test_an_html_page_with_200_is_a_bad_response(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, body=b"<html>maintenance</html>", content_type="text/html")

    assert_kind(call_and_catch(client), BadResponse, permanent=False, kind="bad_response")


def test_422_is_a_rejected_request_quoting_the_errors(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{BASE_URL}/api/v1/user_identities/1/exports/2/export_files",
        status=422,
        body=raw_payload("error_422.json"),
    )

    with pytest.raises(RequestRejected) as caught:
        client.start_export_run(1, 2)

    error = caught.value
    assert_kind(error, RequestRejected, permanent=True, kind="request_rejected")
    assert error.message == (
        "WebAdMIT rejected POST /api/v1/user_identities/1/exports/2/export_files (HTTP 422) for credential "
        "'Nursing': schema: The property '#/callback' of type integer did not match the following type: string"
    )


def test_a_redirect_is_not_followed(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    # Following it would send the x-api-key header to whatever host the redirect names.
    mocked.get(URL, status=302, headers={"Location": "https://elsewhere.example/steal"})

    error = call_and_catch(client)

    assert_kind(error, RequestRejected, permanent=True, kind="request_rejected")
    assert "Check the base URL https://api.webadmit.org" in error.message
    assert len(mocked.calls) == 1


def test_rate_limit_headers_are_read_from_error_responses_too(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(URL, status=503, headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "12"})

    call_and_catch(client)

    assert client.rate_limit == RateLimit(limit=5000, remaining=12)
    assert client.calls_made == 1


def test_the_client_never_retries_on_its_own(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=503)

    call_and_catch(client)

    assert len(mocked.calls) == 1
