"""The client's PDF Manager calls against payloads (P1-P6): typed values, `state` in lower snake case, no
`download_hrefs` in the listing, a zip's link read from a 302 that is never followed, and a refused callback's 422
carrying WebAdMIT's words.

`pdf_batch_callback.json` is the SPEC's recorded callback, word for word; `error_422_batch_callback.json` is the SPEC's
422. The other `p*` payloads are built from the shapes the SPEC documents, around the recorded callback's ids.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
import responses

from webadmit_dash.webadmit import (
    BadResponse,
    BatchState,
    KeyRejected,
    NotFound,
    PdfManagerBatch,
    PdfManagerTemplate,
    PdfManagerTemplateRef,
    PdfManagerZipLink,
    RateLimited,
    RequestRejected,
    UpstreamUnavailable,
    WebAdmitClient,
    WebAdmitError,
    batch_from_callback,
    make_session,
    open_download,
)
from webadmit_dash.webadmit import client as client_module

from .conftest import API_KEY, BASE_URL, payload, raw_payload

UID = 280464
IDENTITY = f"{BASE_URL}/api/v1/user_identities/{UID}"
S3_LINK = (
    "https://webadmit-pdf-manager.s3.amazonaws.com/batches/6348/zips/287866/Transcripts.zip"
    "?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1539821263&Signature=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
)
RECORDED_BATCH = PdfManagerBatch(
    id=6348,
    href="/api/v1/user_identities/280464/pdf_manager_batches/6348",
    state=BatchState.AVAILABLE,
    raw_state="available",
    updated_at=datetime(2018, 10, 18, 0, 7, 13, tzinfo=UTC),
    template=PdfManagerTemplateRef(
        id=8153, name="Transcripts", href="/api/v1/user_identities/280464/pdf_manager_templates/8153"
    ),
    download_hrefs=("/api/v1/user_identities/280464/pdf_manager_zip_files/287866/download",),
    zip_file_ids=(287866,),
)


def test_it_lists_an_identitys_templates(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{IDENTITY}/pdf_manager_templates", body=raw_payload("p1_pdf_manager_templates.json"))

    templates = client.list_pdf_manager_templates(UID)

    assert templates == [
        PdfManagerTemplate(
            id=8153,
            href="/api/v1/user_identities/280464/pdf_manager_templates/8153",
            name="Transcripts",
            list_name="Complete Applications",
            document_source_title="Official Transcript",
        ),
        PdfManagerTemplate(
            id=8154,
            href="/api/v1/user_identities/280464/pdf_manager_templates/8154",
            name="Letters of Recommendation",
            list_name="Interview Pool \u2013 Café Session",
            document_source_title="Letter of Recommendation",
        ),
    ]


def test_it_gets_one_template(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{IDENTITY}/pdf_manager_templates/8153", body=raw_payload("p2_pdf_manager_template.json"))

    assert client.get_pdf_manager_template(UID, 8153).name == "Transcripts"


def test_a_template_may_lack_its_list_name_and_document_title(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(
        f"{IDENTITY}/pdf_manager_templates/8153",
        json={"pdf_manager_template": {"href": "/t/8153", "id": 8153, "name": "Transcripts", "list_name": None}},
    )

    template = client.get_pdf_manager_template(UID, 8153)

    assert (template.list_name, template.document_source_title) == (None, None)


def test_the_listing_gives_states_templates_and_times_but_no_download_hrefs(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{IDENTITY}/pdf_manager_batches", body=raw_payload("p4_pdf_manager_batches.json"))

    batches = client.list_pdf_manager_batches(UID)

    assert [(batch.id, batch.state, batch.template.id, batch.template.name) for batch in batches] == [
        (6349, BatchState.IN_PROGRESS, 8153, "Transcripts"),
        (6348, BatchState.AVAILABLE, 8153, "Transcripts"),
        (6301, BatchState.SUCCESS_WITH_ERRORS, 8154, "Letters of Recommendation"),
    ]
    assert batches[1].updated_at == datetime(2018, 10, 18, 0, 7, 13, tzinfo=UTC)
    # The SPEC: no download_hrefs in the list. None says "not sent", so nobody mistakes it for "no zips".
    assert all(batch.download_hrefs is None and batch.zip_file_ids == () for batch in batches)


def test_one_batch_comes_with_the_zips_it_holds(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{IDENTITY}/pdf_manager_batches/6301", body=raw_payload("p5_batch_several_zips.json"))

    batch = client.get_pdf_manager_batch(UID, 6301)

    assert batch.state is BatchState.SUCCESS_WITH_ERRORS
    assert batch.state.is_downloadable and batch.state.is_finished
    assert batch.zip_file_ids == (287801, 287802, 287803), "a batch can be several zips (1 GB each)"
    assert batch.download_hrefs == tuple(
        f"/api/v1/user_identities/280464/pdf_manager_zip_files/{zip_id}/download" for zip_id in (287801, 287802, 287803)
    )


def test_the_recorded_callback_reads_as_the_batch_its_get_gives(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    # The SPEC: the callback is JSON of the same shape as the single GET. One parser for both.
    mocked.get(f"{IDENTITY}/pdf_manager_batches/6348", body=raw_payload("pdf_batch_callback.json"))

    from_callback = batch_from_callback(raw_payload("pdf_batch_callback.json"))

    assert from_callback == RECORDED_BATCH
    assert client.get_pdf_manager_batch(UID, 6348) == from_callback


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"export_file[id]=1", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"pdf_manager_batch": {"id": 6348}}', "a batch without 'pdf_manager_batch.state'"),
        (b'{"export_files": {"id": 1}}', "a batch without 'pdf_manager_batch'"),
        # Anyone can post to the address: nesting past Python's recursion limit is refused like any other body.
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
def test_a_callback_body_that_is_no_batch_says_what_is_wrong(body: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        batch_from_callback(body)


def test_a_batch_just_started_has_no_zips_yet(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{IDENTITY}/pdf_manager_batches", body=raw_payload("p3_start_batch.json"), status=201)

    batch = client.start_pdf_manager_batch(UID, 8153)

    assert (batch.id, batch.state, batch.download_hrefs, batch.zip_file_ids) == (
        6349,
        BatchState.INITIALIZING,
        (),
        (),
    )
    assert not batch.state.is_finished


@pytest.mark.parametrize(
    ("callback", "sent"),
    [
        (None, {"pdf_manager_batch": {"pdf_manager_template_id": 8153}}),
        (
            "https://dash.example.edu/webadmit/batch/abc/",
            {
                "pdf_manager_batch": {
                    "pdf_manager_template_id": 8153,
                    "callback": "https://dash.example.edu/webadmit/batch/abc/",
                }
            },
        ),
    ],
)
def test_a_batch_is_started_with_the_documented_wrapped_body(
    client: WebAdmitClient, mocked: responses.RequestsMock, callback: str | None, sent: dict[str, object]
) -> None:
    # A public client posts the body unwrapped, which WebAdMIT is not known to accept: this one never does.
    mocked.post(f"{IDENTITY}/pdf_manager_batches", body=raw_payload("p3_start_batch.json"), status=201)

    client.start_pdf_manager_batch(UID, 8153, callback=callback)

    request = mocked.calls[0].request
    assert json.loads(request.body or b"") == sent
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["x-api-key"] == API_KEY


def test_a_refused_callback_is_a_rejected_request_with_webadmits_words(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{IDENTITY}/pdf_manager_batches", status=422, body=raw_payload("error_422_batch_callback.json"))

    with pytest.raises(RequestRejected) as caught:
        client.start_pdf_manager_batch(UID, 8153, callback="http://dash.example.edu/cb/")

    error = caught.value
    assert error.permanent and error.kind == "request_rejected" and error.status_code == 422
    words = "schema: The property '#/pdf_manager_batch/callback' value \"http://…\" did not match the regex '^https://'"
    assert error.upstream_message == words
    assert error.message == (
        f"WebAdMIT rejected POST /api/v1/user_identities/{UID}/pdf_manager_batches (HTTP 422) for credential "
        f"'Nursing': {words}"
    )


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("initializing", BatchState.INITIALIZING),
        ("queued", BatchState.QUEUED),
        ("in_progress", BatchState.IN_PROGRESS),
        ("empty_list", BatchState.EMPTY_LIST),
        ("failed", BatchState.FAILED),
        ("Success With Errors", BatchState.SUCCESS_WITH_ERRORS),
        ("expired", BatchState.UNKNOWN),
    ],
)
def test_every_state_is_read_and_an_unknown_one_kept_raw(
    client: WebAdmitClient, mocked: responses.RequestsMock, raw: str, state: BatchState
) -> None:
    body = payload("pdf_batch_callback.json")
    body["pdf_manager_batch"]["state"] = raw
    mocked.get(f"{IDENTITY}/pdf_manager_batches/6348", json=body)

    batch = client.get_pdf_manager_batch(UID, 6348)

    assert (batch.state, batch.raw_state) == (state, raw)


def test_ids_are_64_bit_and_unknown_fields_are_ignored(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    big, huge = 2**40 + 7, 2**63 - 1
    item = {
        "id": huge,
        "state": "available",
        "updated_at": "2026-11-29T03:00:00Z",
        "created_at": "2026-11-29T02:00:00Z",
        "pdf_manager_template": {"id": big, "name": "Transcripts", "list_name": "new field"},
        "href": f"/api/v1/user_identities/{big}/pdf_manager_batches/{huge}",
        "download_hrefs": [f"/api/v1/user_identities/{big}/pdf_manager_zip_files/{huge - 1}/download"],
        "size_bytes": 123,
    }
    mocked.get(f"{BASE_URL}/api/v1/user_identities/{big}/pdf_manager_batches/{huge}", json={"pdf_manager_batch": item})

    batch = client.get_pdf_manager_batch(big, huge)

    assert (batch.id, batch.template.id, batch.zip_file_ids) == (huge, big, (huge - 1,))
    assert batch.template.href is None


@pytest.mark.parametrize(
    ("updated_at", "expected"),
    [
        ("2018-10-18T00:07:13Z", datetime(2018, 10, 18, 0, 7, 13, tzinfo=UTC)),
        ("2018-10-17T20:07:13-04:00", datetime(2018, 10, 18, 0, 7, 13, tzinfo=UTC)),
        ("2018-10-18T00:07:13.250Z", datetime(2018, 10, 18, 0, 7, 13, 250_000, tzinfo=UTC)),
        ("2018-10-18T00:07:13", datetime(2018, 10, 18, 0, 7, 13, tzinfo=UTC)),
    ],
)
def test_updated_at_is_read_as_utc(
    client: WebAdmitClient, mocked: responses.RequestsMock, updated_at: str, expected: datetime
) -> None:
    body = payload("pdf_batch_callback.json")
    body["pdf_manager_batch"]["updated_at"] = updated_at
    mocked.get(f"{IDENTITY}/pdf_manager_batches/6348", json=body)

    assert client.get_pdf_manager_batch(UID, 6348).updated_at == expected


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"state": None}, "'pdf_manager_batch.state' that is not text"),
        ({"id": "6348"}, "'pdf_manager_batch.id' that is not a whole number"),
        ({"updated_at": "yesterday"}, "'pdf_manager_batch.updated_at' that is not a time"),
        ({"pdf_manager_template": 8153}, "'pdf_manager_batch.pdf_manager_template' that is not an object"),
        ({"pdf_manager_template": {"name": "Transcripts"}}, "without 'pdf_manager_batch.pdf_manager_template.id'"),
        ({"download_hrefs": "/x"}, "'pdf_manager_batch.download_hrefs' that is not a list of text"),
        (
            {"download_hrefs": ["/api/v1/user_identities/1/export_files"]},
            "'pdf_manager_batch.download_hrefs[0]' that names no zip",
        ),
        ({"download_hrefs": ["/api/v1/pdf_manager_zip_files/12/download/x"]}, "download_hrefs[0]' that names no zip"),
    ],
)
def test_a_batch_lacking_what_is_used_is_a_bad_response_naming_it(
    client: WebAdmitClient, mocked: responses.RequestsMock, change: dict[str, object], detail: str
) -> None:
    body = payload("pdf_batch_callback.json")
    body["pdf_manager_batch"].update(change)
    mocked.get(f"{IDENTITY}/pdf_manager_batches/6348", json=body)

    with pytest.raises(BadResponse) as caught:
        client.get_pdf_manager_batch(UID, 6348)

    assert detail in caught.value.message
    assert "credential 'Nursing'" in caught.value.message


def test_a_zip_href_may_be_absolute_or_carry_a_query(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    body = payload("pdf_batch_callback.json")
    body["pdf_manager_batch"]["download_hrefs"] = [
        "https://api.webadmit.org/api/v1/user_identities/280464/pdf_manager_zip_files/11/download",
        "/api/v1/user_identities/280464/pdf_manager_zip_files/12/download?part=2",
    ]
    mocked.get(f"{IDENTITY}/pdf_manager_batches/6348", json=body)

    assert client.get_pdf_manager_batch(UID, 6348).zip_file_ids == (11, 12)


def test_null_download_hrefs_read_as_not_sent(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    body = payload("pdf_batch_callback.json")
    body["pdf_manager_batch"]["download_hrefs"] = None
    mocked.get(f"{IDENTITY}/pdf_manager_batches/6348", json=body)

    assert client.get_pdf_manager_batch(UID, 6348).download_hrefs is None


# --- A zip's link (P6) -------------------------------------------------------------------------------------------

ZIP_URL = f"{IDENTITY}/pdf_manager_zip_files/287866/download"


def test_a_zips_link_is_read_from_the_302_without_following_it(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(ZIP_URL, status=302, headers={"Location": S3_LINK}, body=b"<html><body>You are being redirected.")
    before = datetime.now(UTC)

    link = client.get_pdf_manager_zip_link(UID, 287866)

    assert isinstance(link, PdfManagerZipLink)
    assert (link.zip_file_id, link.url) == (287866, S3_LINK)
    assert before <= link.minted_at <= datetime.now(UTC)
    assert len(mocked.calls) == 1, "not followed: following would carry the API key to the storage host"
    assert mocked.calls[0].request.headers["x-api-key"] == API_KEY


def test_the_zip_is_fetched_from_its_link_without_the_api_key(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(ZIP_URL, status=302, headers={"Location": S3_LINK})
    mocked.get(S3_LINK.split("?")[0], body=b"PK\x05\x06" + b"\x00" * 18, content_type="application/zip")
    link = client.get_pdf_manager_zip_link(UID, 287866)

    with make_session() as session, open_download(session, link.url, connect_timeout=2, read_timeout=5) as download:
        body = b"".join(download.chunks())

    assert body.startswith(b"PK")
    fetched = mocked.calls[1].request
    assert fetched.url == S3_LINK
    assert "x-api-key" not in {name.lower() for name in fetched.headers}


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_any_redirect_status_gives_the_link(
    client: WebAdmitClient, mocked: responses.RequestsMock, status: int
) -> None:
    mocked.get(ZIP_URL, status=status, headers={"Location": S3_LINK})

    assert client.get_pdf_manager_zip_link(UID, 287866).url == S3_LINK


def test_a_relative_location_is_resolved_against_webadmit(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(ZIP_URL, status=302, headers={"Location": "/downloads/287866.zip?token=abc"})

    assert client.get_pdf_manager_zip_link(UID, 287866).url == f"{BASE_URL}/downloads/287866.zip?token=abc"


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 200, "json": {"pdf_manager_zip_file": {"id": 287866}}},
        {"status": 302},
        {"status": 302, "headers": {"Location": "ftp://files.example/287866.zip"}},
    ],
    ids=["200", "no-location", "not-http"],
)
def test_an_answer_without_a_usable_redirect_is_a_bad_response(
    client: WebAdmitClient, mocked: responses.RequestsMock, answer: dict[str, object]
) -> None:
    mocked.get(ZIP_URL, **answer)

    with pytest.raises(BadResponse, match="without a redirect to the zip"):
        client.get_pdf_manager_zip_link(UID, 287866)


def test_other_calls_still_refuse_redirects(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{IDENTITY}/pdf_manager_batches", status=302, headers={"Location": "https://elsewhere.example/"})

    with pytest.raises(RequestRejected, match="redirected"):
        client.list_pdf_manager_batches(UID)


def test_a_zips_link_shows_nowhere(
    client: WebAdmitClient, mocked: responses.RequestsMock, debug_log: pytest.LogCaptureFixture
) -> None:
    mocked.get(ZIP_URL, status=302, headers={"Location": S3_LINK})

    link = client.get_pdf_manager_zip_link(UID, 287866)

    assert "Signature" not in repr(link) and "Signature" not in str(link)
    assert debug_log.records, "the call is logged"
    assert "Signature" not in debug_log.text and "amazonaws" not in debug_log.text
    assert API_KEY not in debug_log.text


# --- Errors and observers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "error_class"),
    [
        ({"status": 401, "body": b""}, KeyRejected),
        ({"status": 404, "json": {"message": f"User identity '{UID}' not found."}}, NotFound),
        ({"status": 429, "headers": {"Retry-After": "30"}}, RateLimited),
        ({"status": 503}, UpstreamUnavailable),
        ({"body": requests.exceptions.ReadTimeout("read timed out")}, UpstreamUnavailable),
        ({"body": b'{"pdf_manager_batches": [{"id": 1, "href": "/api/v1/use'}, BadResponse),
    ],
    ids=["401", "404", "429", "503", "timeout", "malformed-json"],
)
@pytest.mark.parametrize("call", ["templates", "batches", "batch", "start", "zip"])
def test_pdf_manager_calls_fail_as_every_call_does(
    client: WebAdmitClient,
    mocked: responses.RequestsMock,
    call: str,
    failure: dict[str, object],
    error_class: type[WebAdmitError],
) -> None:
    method, url, invoke = {
        "templates": ("GET", f"{IDENTITY}/pdf_manager_templates", lambda: client.list_pdf_manager_templates(UID)),
        "batches": ("GET", f"{IDENTITY}/pdf_manager_batches", lambda: client.list_pdf_manager_batches(UID)),
        "batch": ("GET", f"{IDENTITY}/pdf_manager_batches/6348", lambda: client.get_pdf_manager_batch(UID, 6348)),
        "start": ("POST", f"{IDENTITY}/pdf_manager_batches", lambda: client.start_pdf_manager_batch(UID, 8153)),
        "zip": ("GET", ZIP_URL, lambda: client.get_pdf_manager_zip_link(UID, 287866)),
    }[call]
    mocked.add(method, url, **failure)  # type: ignore[arg-type]

    with pytest.raises(error_class) as caught:
        invoke()  # type: ignore[no-untyped-call]

    assert API_KEY not in str(caught.value)
    assert caught.value.__context__ is None


def test_pdf_manager_calls_are_reported_by_their_names(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    seen: list[tuple[str, str]] = []

    def observer(endpoint: str, status: str, seconds: float) -> None:
        seen.append((endpoint, status))

    client_module.observe_calls(observer)
    try:
        mocked.get(f"{IDENTITY}/pdf_manager_templates", body=raw_payload("p1_pdf_manager_templates.json"))
        mocked.get(f"{IDENTITY}/pdf_manager_templates/8153", body=raw_payload("p2_pdf_manager_template.json"))
        mocked.post(f"{IDENTITY}/pdf_manager_batches", body=raw_payload("p3_start_batch.json"), status=201)
        mocked.get(f"{IDENTITY}/pdf_manager_batches", body=raw_payload("p4_pdf_manager_batches.json"))
        mocked.get(f"{IDENTITY}/pdf_manager_batches/6348", body=raw_payload("pdf_batch_callback.json"))
        mocked.get(ZIP_URL, status=302, headers={"Location": S3_LINK})
        client.list_pdf_manager_templates(UID)
        client.get_pdf_manager_template(UID, 8153)
        client.start_pdf_manager_batch(UID, 8153)
        client.list_pdf_manager_batches(UID)
        client.get_pdf_manager_batch(UID, 6348)
        client.get_pdf_manager_zip_link(UID, 287866)
    finally:
        client_module._call_observers.remove(observer)

    assert seen == [("P1", "200"), ("P2", "200"), ("P3", "201"), ("P4", "200"), ("P5", "200"), ("P6", "302")]
    assert client.calls_made == 6
