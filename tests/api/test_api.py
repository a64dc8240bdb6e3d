"""The read-only API: every endpoint with and without a token, what a token may see, paging and downloads."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.conftest import ApiClient
from tests.support.factories import make_export, make_file
from webadmit_dash.api import tokens
from webadmit_dash.api.models import ApiToken
from webadmit_dash.core.models import DownloadEvent, ExportFile, IdentityGrant, StatusChange
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/files", "/api/v1/files.csv", "/api/v1/files/{pk}", "/api/v1/files/{pk}/download",
             "/api/v1/identities", "/api/v1/identities/{identity}", "/api/v1/schedules"]  # fmt: skip


@pytest.fixture
def a_file(identity):
    return make_file(identity, FileStatus.AVAILABLE)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_refuses_a_request_without_a_token(client, a_file, endpoint):
    response = client.get(endpoint.format(pk=a_file.pk, identity=a_file.identity_id))
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}
    assert not DownloadEvent.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("header", ["Bearer wdash_not-a-real-token", "Bearer ", "Basic Ym9iOnBhc3N3b3Jk", "wdash_x"])
def test_every_endpoint_refuses_a_wrong_token(client, a_file, endpoint, header):
    response = client.get(endpoint.format(pk=a_file.pk, identity=a_file.identity_id), HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_refuses_a_revoked_token(api_as, staff_granted, a_file, endpoint):
    api = api_as(staff_granted)
    assert api.get("/api/v1/files").status_code == 200
    token = ApiToken.objects.get(user=staff_granted)
    assert tokens.revoke(staff_granted, token.pk)
    assert api.get(endpoint.format(pk=a_file.pk, identity=a_file.identity_id)).status_code == 401


def test_a_token_of_a_deactivated_user_is_refused(api_as, staff_granted, a_file):
    api = api_as(staff_granted)
    staff_granted.is_active = False
    staff_granted.save()
    assert api.get("/api/v1/files").status_code == 401


def test_every_endpoint_answers_with_a_token(api_as, admin_user, a_file, sim_credential):
    api = api_as(admin_user)
    assert api.get("/api/v1/files").status_code == 200
    assert api.get("/api/v1/files.csv").status_code == 200
    assert api.get(f"/api/v1/files/{a_file.pk}").status_code == 200
    assert api.get("/api/v1/identities").status_code == 200
    assert api.get(f"/api/v1/identities/{a_file.identity_id}").json()["association"] == "SOPHAS"
    # The file's credential points at api.webadmit.org, which a test never calls: a finished, empty run shows the
    # download endpoint's own answer without leaving the machine.
    empty = make_file(a_file.identity, FileStatus.EMPTY_LIST)
    refused = api.get(f"/api/v1/files/{empty.pk}/download")
    assert refused.status_code == 409
    assert refused.json()["outcome"] == "not_downloadable"
    assert "matched no applicants" in refused.json()["detail"]


def test_the_files_list_carries_what_a_script_needs(api_as, admin_user, identity):
    export = make_export(identity, 29_897, "Nightly Banner Export")
    available = make_file(identity, FileStatus.AVAILABLE, export=export)
    body = api_as(admin_user).get("/api/v1/files").json()
    assert body["next_cursor"] is None and body["next"] is None
    [item] = body["items"]
    assert item["id"] == available.pk
    assert item["webadmit_id"] == available.webadmit_id
    assert item["export_id"] == 29_897 and item["export_name"] == "Nightly Banner Export"
    assert item["identity_id"] == identity.pk and item["association"] == "SOPHAS"
    assert item["cycle"] == "2026 - 2027"
    assert (item["status"], item["status_label"], item["raw_status"]) == ("available", "Available", "Available")
    assert item["download_url"] == f"/api/v1/files/{available.pk}/download"
    assert item["gone_at"] is None


def test_a_token_sees_exactly_what_its_user_sees(api_as, staff_granted, staff_via_group, identity, other_identity):
    mine = make_file(identity, FileStatus.AVAILABLE)
    theirs = make_file(other_identity, FileStatus.AVAILABLE)
    bob = api_as(staff_granted)
    assert [item["id"] for item in bob.get("/api/v1/files").json()["items"]] == [mine.pk]
    assert [item["id"] for item in bob.get("/api/v1/identities").json()["items"]] == [identity.pk]
    carol = api_as(staff_via_group)  # through a group grant
    assert [item["id"] for item in carol.get("/api/v1/files").json()["items"]] == [theirs.pk]
    assert [item["id"] for item in carol.get("/api/v1/identities").json()["items"]] == [other_identity.pk]


def test_another_users_files_and_identities_are_not_found_by_guessed_id(api_as, staff_granted, other_identity):
    theirs = make_file(other_identity, FileStatus.AVAILABLE)
    api = api_as(staff_granted)
    assert api.get(f"/api/v1/files/{theirs.pk}").status_code == 404
    assert api.get(f"/api/v1/files/{theirs.pk}/download").status_code == 404
    assert api.get(f"/api/v1/identities/{other_identity.pk}").status_code == 404
    assert not DownloadEvent.objects.exists()
    # Filtering by an identity one may not see filters to nothing, as on the page: it reveals nothing either.
    assert api.get("/api/v1/files", {"identity": other_identity.pk}).json()["items"] == []
    assert api.get("/api/v1/files", {"association": other_identity.association}).json()["items"] == []
    for missing in (theirs.pk + 1000, 2**63 - 1):
        assert api.get(f"/api/v1/files/{missing}").status_code == 404
        assert api.get(f"/api/v1/identities/{missing}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/files/0",
        "/api/v1/files/-1",
        f"/api/v1/files/{2**63}",
        "/api/v1/files/abc",
        f"/api/v1/files?identity={2**64}",
        "/api/v1/files?limit=0",
        "/api/v1/files?limit=100000",
        "/api/v1/files?status=nonsense",
        "/api/v1/files?q=" + "x" * 101,
        f"/api/v1/identities?after={2**63}",
    ],
)
def test_bad_parameters_are_refused_with_a_clear_422_not_a_crash(api_as, admin_user, path):
    response = api_as(admin_user).get(path)
    assert response.status_code in (404, 422), response.content
    if response.status_code == 422:
        assert isinstance(response.json()["detail"], list)


@pytest.mark.parametrize("after", ["garbage", "1.2.3", f"0.0.{2**63}.1", "0.99999999999999999999999.1.1", "\x00"])
def test_a_nonsense_cursor_starts_from_the_top(api_as, admin_user, a_file, after):
    assert [item["id"] for item in api_as(admin_user).get("/api/v1/files", {"after": after}).json()["items"]] == [
        a_file.pk
    ]


def test_a_search_with_a_nul_character_finds_nothing_instead_of_failing(api_as, admin_user, a_file):
    response = api_as(admin_user).get("/api/v1/files", {"q": "\x00"})
    assert response.status_code == 200


def test_the_files_list_has_the_pages_filters(api_as, admin_user, identity, other_identity):
    available = make_file(identity, FileStatus.AVAILABLE)
    failed = make_file(identity, FileStatus.FAILED)
    other = make_file(other_identity, FileStatus.QUEUED)
    expired = make_file(identity, FileStatus.AVAILABLE, gone=True)
    named = make_file(other_identity, FileStatus.AVAILABLE, export=make_export(other_identity, 7, "Deposit list"))
    api = api_as(admin_user)

    def ids(**query) -> set[int]:
        return {item["id"] for item in api.get("/api/v1/files", query).json()["items"]}

    assert ids() == {available.pk, failed.pk, other.pk, named.pk}
    assert ids(expired="true") == {available.pk, failed.pk, other.pk, named.pk, expired.pk}
    assert ids(expired="false") == ids()
    assert ids(status=["failed", "queued"]) == {failed.pk, other.pk}
    assert ids(status="running") == {other.pk}  # the Running chip's group: every unfinished run
    assert ids(identity=identity.pk) == {available.pk, failed.pk}
    assert ids(association="PharmCAS") == {other.pk, named.pk}
    assert ids(cycle="2026 - 2027") == ids()
    assert ids(q="deposit") == {named.pk}
    assert ids(q=str(failed.webadmit_id)) == {failed.pk}


@pytest.mark.slow
def test_paging_through_ten_thousand_files_returns_each_exactly_once(api_as, admin_user, identity, other_identity):
    export = make_export(identity, 1)
    now = timezone.now()
    # Many files share a first-seen time (and WebAdMIT ids repeat across identities): the cursor must break ties.
    ExportFile.objects.bulk_create(
        ExportFile(
            identity=identity if n % 2 else other_identity,
            webadmit_id=n // 2,
            export_webadmit_id=1,
            export=export if n % 2 else None,
            href="/",
            status=[FileStatus.AVAILABLE, FileStatus.FAILED, FileStatus.QUEUED][n % 3],
            raw_status="x",
            first_seen_at=now - timedelta(minutes=n // 7),
            status_changed_at=now,
        )
        for n in range(10_000)
    )
    api = api_as(admin_user)
    seen: list[int] = []
    url, pages = "/api/v1/files?limit=1000", 0
    while url:
        body = api.get(url).json()
        seen += [item["id"] for item in body["items"]]
        url, pages = body["next"], pages + 1
        assert pages <= 11
    assert len(seen) == 10_000
    assert set(seen) == set(ExportFile.objects.values_list("pk", flat=True))
    # In the page's order: failed and unfinished first, then newest first.
    ranks = dict(ExportFile.objects.values_list("pk", "attention_rank"))
    assert [ranks[pk] for pk in seen] == sorted(ranks[pk] for pk in seen)


def test_the_next_link_keeps_the_filters(api_as, admin_user, identity):
    for _ in range(3):
        make_file(identity, FileStatus.FAILED)
    make_file(identity, FileStatus.AVAILABLE)
    body = api_as(admin_user).get("/api/v1/files", {"status": "failed", "limit": 2}).json()
    assert "status=failed" in body["next"] and "limit=2" in body["next"]
    rest = api_as(admin_user).get(body["next"]).json()
    assert len(rest["items"]) == 1 and rest["items"][0]["status"] == "failed"


def test_one_file_comes_with_its_status_history(api_as, staff_granted, identity):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    start = timezone.now() - timedelta(minutes=30)
    for n, (old, new) in enumerate([("", "queued"), ("queued", "in_progress"), ("in_progress", "available")]):
        StatusChange.objects.create(
            export_file=export_file,
            old_status=old,
            new_status=new,
            raw_status=new,
            changed_at=start + timedelta(minutes=n),
        )
    body = api_as(staff_granted).get(f"/api/v1/files/{export_file.pk}").json()
    assert body["id"] == export_file.pk
    assert [(step["old_status"], step["new_status"]) for step in body["history"]] == [
        ("in_progress", "available"),
        ("queued", "in_progress"),
        (None, "queued"),
    ]


def test_identities_come_with_their_freshness(api_as, admin_user, identity, other_identity):
    identity.last_success_at = identity.last_attempt_at = timezone.now()
    identity.save()
    other_identity.paused = True
    other_identity.error_kind = "key_rejected"
    other_identity.error_message = "WebAdMIT rejected the API key for credential 'Nursing'."
    other_identity.save()
    items = {item["id"]: item for item in api_as(admin_user).get("/api/v1/identities").json()["items"]}
    assert items[identity.pk]["freshness"] == "ok"
    assert items[identity.pk]["name"] == "SOPHAS · School of Public Health · 2026 - 2027"
    assert items[other_identity.pk]["freshness"] == "paused"
    assert "rejected the API key" in items[other_identity.pk]["error"]


def test_identities_are_paged_by_id(api_as, admin_user, identity, other_identity):
    api = api_as(admin_user)
    first = api.get("/api/v1/identities", {"limit": 1}).json()
    second = api.get(first["next"]).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == sorted([identity.pk, other_identity.pk])
    assert second["next"] is None


def test_the_api_csv_is_the_pages_csv(api_as, client, admin_user, identity):
    make_file(identity, FileStatus.AVAILABLE, export=make_export(identity, 5, "=cmd|' /C calc'!A0"))
    make_file(identity, FileStatus.FAILED)
    client.force_login(admin_user)
    from_page = b"".join(client.get("/", {"format": "csv", "status": "failed"}).streaming_content)
    from_api = b"".join(api_as(admin_user).get("/api/v1/files.csv", {"status": "failed"}).streaming_content)
    assert from_api == from_page
    everything = b"".join(api_as(admin_user).get("/api/v1/files.csv").streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(everything)))
    assert len(rows) == 3 and "'=cmd|' /C calc'!A0" in [row[1] for row in rows]


def test_an_api_download_redirects_to_a_fresh_url_and_is_audited(api_as, staff_granted, sim_identity, world):
    IdentityGrant.objects.create(identity=sim_identity, user=staff_granted)
    state = world.files(sim_identity.webadmit_id)[0]
    world.force_status(state.id, "Available")
    export_file = make_file(
        sim_identity, FileStatus.AVAILABLE, webadmit_id=state.id, export=make_export(sim_identity, state.export_id)
    )
    response = api_as(staff_granted).get(f"/api/v1/files/{export_file.pk}/download")
    assert response.status_code == 302
    assert "/_s3/" in response["Location"] and response["Referrer-Policy"] == "no-referrer"
    event = DownloadEvent.objects.get()
    assert (event.user, event.export_file, event.outcome) == (staff_granted, export_file, "redirected")


def test_an_api_download_webadmit_refuses_says_why_with_retry_after(api_as, admin_user, sim_identity, world):
    state = world.files(sim_identity.webadmit_id)[0]
    world.force_status(state.id, "Available")
    export_file = make_file(
        sim_identity, FileStatus.AVAILABLE, webadmit_id=state.id, export=make_export(sim_identity, state.export_id)
    )
    world.add_fault("rate_limited", identity_id=sim_identity.webadmit_id)
    response = api_as(admin_user).get(f"/api/v1/files/{export_file.pk}/download")
    assert response.status_code == 503
    assert response.json()["outcome"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    assert DownloadEvent.objects.get().outcome == "rate_limited"


def test_tokens_are_stored_hashed_and_record_their_last_use(api_as, staff_granted, token_for):
    secret = token_for(staff_granted)
    token = ApiToken.objects.get()
    assert secret not in {token.digest, token.prefix, token.name}
    assert secret.startswith(token.prefix) and len(token.digest) == 64
    assert token.last_used_at is None
    api = ApiClient(secret)
    api.get("/api/v1/identities")
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    api.get("/api/v1/identities")  # within the minute: not written again
    token.refresh_from_db()
    assert token.last_used_at == first_use


def test_the_openapi_schema_and_docs_need_no_token_and_no_cdn(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/files", "/api/v1/files.csv", "/api/v1/files/{file_id}", "/api/v1/files/{file_id}/download",
            "/api/v1/identities", "/api/v1/identities/{identity_id}"} <= set(schema["paths"])  # fmt: skip
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    docs = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in docs
    assert "cdn" not in docs.lower() and "https://" not in docs
