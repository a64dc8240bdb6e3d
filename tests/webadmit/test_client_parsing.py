"""The client against recorded WebAdMIT payloads: every call parsed into typed values, tolerant of what the API
may add, strict about what it needs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses

from webadmit_dash.webadmit import (
    USER_AGENT,
    BadResponse,
    DownloadLink,
    Export,
    ExportFile,
    FileStatus,
    RateLimit,
    UserIdentity,
    WebAdmitClient,
    make_session,
)

from .conftest import API_KEY, BASE_URL, payload, raw_payload

E6_URL = f"{BASE_URL}/api/v1/user_identities/37442/export_files"


def test_it_lists_user_identities(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE_URL}/api/v1/user_identities", body=raw_payload("e1_user_identities.json"))

    assert client.list_user_identities() == [
        UserIdentity(
            id=261149,
            type="Admissions User",
            association="ArchCAS",
            institution="Woodbury University",
            organization="Woodbury University",
            cycle="2017 - 2018",
        )
    ]


def test_it_lists_all_exports(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE_URL}/api/v1/exports", body=raw_payload("e2_exports.json"))

    assert client.list_all_exports() == [
        Export(
            id=29897,
            name="Nightly Banner Export",
            list_type="all",
            format="Comma-Separated Values",
            mime_type="text/csv;charset=iso-8859-1",
        )
    ]


def test_it_lists_one_identitys_exports_in_the_order_sent(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{BASE_URL}/api/v1/user_identities/261149/exports", body=raw_payload("e3_identity_exports.json"))

    exports = client.list_exports(261149)

    assert [(export.id, export.name, export.format) for export in exports] == [
        (335158, "Daily Decision Letters", "Microsoft Excel"),
        (29897, "Nightly Banner Export", "Comma-Separated Values"),
    ]


def test_batch_status_keeps_href_and_export_id_as_given(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    # The docs' example has export 86466 in the href but 86446 in export_id; neither is rebuilt from the other.
    mocked.get(E6_URL, body=raw_payload("e6_export_files.json"))

    assert client.list_export_files(37442) == [
        ExportFile(
            id=74780,
            href="/api/v1/exports/86466/export_files/74780",
            export_id=86446,
            status=FileStatus.AVAILABLE,
            raw_status="Available",
        )
    ]


def test_it_reads_the_seed_pages_old_lowercase_spelling(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(E6_URL, body=raw_payload("e6_seed_lowercase.json"))

    [export_file] = client.list_export_files(37442)

    assert export_file.status is FileStatus.AVAILABLE
    assert export_file.raw_status == "available"
    assert (export_file.export_id, export_file.href) == (86446, "/api/v1/exports/86466/export_files/74780")


def test_it_lists_the_runs_of_one_export(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(
        f"{BASE_URL}/api/v1/user_identities/261149/exports/335158/export_files", body=raw_payload("e7_export_runs.json")
    )

    runs = client.list_export_runs(261149, 335158)

    assert [(run.id, run.status) for run in runs] == [
        (267518, FileStatus.SUCCESS_WITH_ERRORS),
        (267519, FileStatus.FAILED),
        (267520, FileStatus.QUEUED),
    ]


@pytest.mark.parametrize("status_code", [200, 201, 202])
def test_starting_a_run_accepts_any_success_and_a_single_object(
    client: WebAdmitClient, mocked: responses.RequestsMock, status_code: int
) -> None:
    mocked.post(
        f"{BASE_URL}/api/v1/user_identities/261149/exports/335158/export_files",
        body=raw_payload("e4_start_run.json"),
        status=status_code,
    )

    run = client.start_export_run(261149, 335158)

    assert run == ExportFile(
        id=267520,
        href="/api/v1/exports/335158/export_files/267520",
        export_id=335158,
        status=FileStatus.QUEUED,
        raw_status="Queued",
    )
    assert mocked.calls[0].request.method == "POST"


def test_it_gets_a_fresh_download_link(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE_URL}/api/v1/exports/335158/export_files/267520", body=raw_payload("e5_available.json"))
    before = datetime.now(UTC)

    link = client.get_download_link(335158, 267520)

    assert link.url == payload("e5_available.json")["export_files"]["download_url"]
    assert link.file.status is FileStatus.AVAILABLE
    assert link.file.id == 267520
    assert link.minted_at.tzinfo is UTC
    assert before <= link.minted_at <= datetime.now(UTC)


def test_the_download_link_is_none_while_the_file_is_not_ready(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{BASE_URL}/api/v1/exports/335158/export_files/267521", body=raw_payload("e5_in_progress.json"))

    link = client.get_download_link(335158, 267521)

    assert link.url is None
    assert link.file.status is FileStatus.IN_PROGRESS


def test_the_download_link_is_none_when_the_field_is_absent(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    body = payload("e4_start_run.json")  # the same object, with no download_url at all
    mocked.get(f"{BASE_URL}/api/v1/exports/335158/export_files/267520", json=body)

    assert client.get_download_link(335158, 267520).url is None


def test_a_download_link_never_shows_its_url() -> None:
    export_file = ExportFile(1, "/api/v1/exports/2/export_files/1", 2, FileStatus.AVAILABLE, "Available")
    link = DownloadLink(file=export_file, url="https://s3.example/secret?Signature=abc", minted_at=datetime.now(UTC))

    assert "Signature" not in repr(link)
    assert "s3.example" not in str(link)


def test_an_unknown_status_is_kept_with_its_raw_text(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    body = payload("e6_export_files.json")
    body["export_files"][0]["status"] = "Archived"
    mocked.get(E6_URL, json=body)

    [export_file] = client.list_export_files(37442)

    assert export_file.status is FileStatus.UNKNOWN
    assert export_file.raw_status == "Archived"


def test_unknown_fields_and_any_key_order_are_fine(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    item = {
        "status": "Success With Errors",
        "size_bytes": 1234,
        "export_id": 86446,
        "created_at": "2026-11-29T03:00:00Z",
        "href": "/api/v1/exports/86446/export_files/74780",
        "id": 74780,
        "links": {"self": "/x"},
    }
    mocked.get(E6_URL, body=json.dumps({"export_files": [item], "total": 1, "href": "/api/v1/..."}))

    [export_file] = client.list_export_files(37442)

    assert (export_file.id, export_file.export_id, export_file.status) == (
        74780,
        86446,
        FileStatus.SUCCESS_WITH_ERRORS,
    )


def test_ids_are_64_bit(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    big = 2**40 + 7
    huge = 2**63 - 1
    mocked.get(
        f"{BASE_URL}/api/v1/user_identities/{big}/export_files",
        json={
            "export_files": [
                {"id": huge, "href": f"/api/v1/exports/{big}/export_files/{huge}", "export_id": big, "status": "Queued"}
            ]
        },
    )

    [export_file] = client.list_export_files(big)

    assert (export_file.id, export_file.export_id) == (huge, big)


def test_optional_identity_fields_may_be_null_or_absent(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(
        f"{BASE_URL}/api/v1/user_identities",
        json={"user_identities": [{"id": 5, "type": "Association User", "association": "PTCAS", "institution": None}]},
    )

    [identity] = client.list_user_identities()

    assert identity == UserIdentity(5, "Association User", "PTCAS", None, None, None)


@pytest.mark.parametrize("field", ["id", "href", "export_id", "status"])
def test_a_missing_required_field_is_a_bad_response_naming_it(
    client: WebAdmitClient, mocked: responses.RequestsMock, field: str
) -> None:
    body = payload("e6_export_files.json")
    del body["export_files"][0][field]
    mocked.get(E6_URL, json=body)

    with pytest.raises(BadResponse) as caught:
        client.list_export_files(37442)

    assert f"without 'export_files[0].{field}'" in caught.value.message
    assert "credential 'Nursing'" in caught.value.message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("74780", "not a whole number"),
        (True, "not a whole number"),
        (74780.0, "not a whole number"),
        (None, "not a whole"),
    ],
)
def test_ids_must_be_integers(
    client: WebAdmitClient, mocked: responses.RequestsMock, value: object, problem: str
) -> None:
    body = payload("e6_export_files.json")
    body["export_files"][0]["id"] = value
    mocked.get(E6_URL, json=body)

    with pytest.raises(BadResponse, match=r"'export_files\[0\]\.id' that is " + problem):
        client.list_export_files(37442)


def test_a_status_that_is_not_text_is_a_bad_response(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    body = payload("e6_export_files.json")
    body["export_files"][0]["status"] = 3
    mocked.get(E6_URL, json=body)

    with pytest.raises(BadResponse, match=r"'export_files\[0\]\.status' that is not text"):
        client.list_export_files(37442)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"href": "/api/v1/user_identities/37442/export_files"}, "without 'export_files'"),
        ({"export_files": {"id": 1}}, "'export_files' that is not a list"),
        ({"export_files": ["74780"]}, "'export_files[0]' that is not an object"),
        ([], "that is not a JSON object"),
    ],
)
def test_a_payload_of_the_wrong_shape_is_a_bad_response(
    client: WebAdmitClient, mocked: responses.RequestsMock, body: object, detail: str
) -> None:
    mocked.get(E6_URL, json=body)

    with pytest.raises(BadResponse) as caught:
        client.list_export_files(37442)

    assert detail in caught.value.message


def test_starting_a_run_needs_a_single_object(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{BASE_URL}/api/v1/user_identities/1/exports/2/export_files",
        json={"export_files": [payload("e4_start_run.json")["export_files"]]},
    )

    with pytest.raises(BadResponse, match="'export_files' that is not an object"):
        client.start_export_run(1, 2)


def test_every_call_sends_the_key_accept_user_agent_and_timeout(mocked: responses.RequestsMock) -> None:
    client = WebAdmitClient(BASE_URL, API_KEY, credential_name="Nursing", timeout=(3.0, 11.0))
    mocked.get(E6_URL, body=raw_payload("e6_export_files.json"))

    client.list_export_files(37442)

    request = mocked.calls[0].request
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("webadmit-dash/0.1.0 ")
    assert request.req_kwargs["timeout"] == (3.0, 11.0)


def test_the_default_timeout_is_explicit(client: WebAdmitClient, mocked: responses.RequestsMock) -> None:
    mocked.get(E6_URL, body=raw_payload("e6_export_files.json"))

    client.list_export_files(37442)

    assert mocked.calls[0].request.req_kwargs["timeout"] == (5.0, 20.0)


def test_a_pasted_key_loses_its_surrounding_whitespace(mocked: responses.RequestsMock) -> None:
    client = WebAdmitClient(BASE_URL, f" {API_KEY}\n")
    mocked.get(E6_URL, body=raw_payload("e6_export_files.json"))

    client.list_export_files(37442)

    assert mocked.calls[0].request.headers["x-api-key"] == API_KEY


def test_rate_limit_headers_are_exposed_and_calls_counted(
    client: WebAdmitClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(
        E6_URL,
        body=raw_payload("e6_export_files.json"),
        headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4987"},
    )
    assert client.rate_limit is None

    client.list_export_files(37442)
    client.list_export_files(37442)

    assert client.rate_limit == RateLimit(limit=5000, remaining=4987)
    assert client.calls_made == 2


def test_a_base_url_with_a_trailing_slash_works(mocked: responses.RequestsMock) -> None:
    client = WebAdmitClient(f"{BASE_URL}/", API_KEY)
    mocked.get(E6_URL, body=raw_payload("e6_export_files.json"))

    assert len(client.list_export_files(37442)) == 1


def test_a_shared_session_keeps_no_cookies_between_credentials(mocked: responses.RequestsMock) -> None:
    session = make_session()
    first = WebAdmitClient(BASE_URL, API_KEY, credential_name="Nursing", session=session)
    second = WebAdmitClient(BASE_URL, "0" * 32, credential_name="Pharmacy", session=session)
    mocked.get(E6_URL, body=raw_payload("e6_export_files.json"), headers={"Set-Cookie": "session=nursing; Path=/"})

    first.list_export_files(37442)
    second.list_export_files(37442)

    assert "Cookie" not in mocked.calls[1].request.headers
    assert mocked.calls[1].request.headers["x-api-key"] == "0" * 32
