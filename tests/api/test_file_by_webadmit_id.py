"""The API accepts WebAdMIT's file id (the number on the rows) where it takes a file's id: one match is that
file, several are answered 300 with the candidates, an invisible file is a plain 404; and the list filters by it."""

from __future__ import annotations

import pytest

from tests.support.factories import make_file
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


def api_file(number: int, what: str = "") -> str:
    return f"/api/v1/files/{number}{what}"


def test_api_answers_the_file_by_its_webadmit_id(api_as, staff_granted, identity):
    export_file = make_file(identity, webadmit_id=207_434)

    response = api_as(staff_granted).get(api_file(207_434))

    assert response.status_code == 200
    assert response.json()["id"] == export_file.pk
    assert response.json()["webadmit_id"] == 207_434


def test_api_download_by_webadmit_id_is_that_files_download(api_as, staff_granted, identity):
    make_file(identity, FileStatus.FAILED, webadmit_id=207_434)

    response = api_as(staff_granted).get(api_file(207_434, "/download"))

    # The file was found: its own refusal (a failed run has nothing to download), not a 404.
    assert response.status_code == 409
    assert response.json()["outcome"] == "not_downloadable"


def test_api_answers_300_with_the_candidates_when_ambiguous(api_as, admin_user, identity, other_identity):
    ours = make_file(identity, webadmit_id=555_001)
    theirs = make_file(other_identity, webadmit_id=ours.pk)
    client = api_as(admin_user)

    for what in ("", "/download"):
        response = client.get(api_file(ours.pk, what))
        assert response.status_code == 300
        body = response.json()
        assert [(c["id"], c["matched"]) for c in body["candidates"]] == [(ours.pk, "id"), (theirs.pk, "webadmit_id")]
        assert body["candidates"][1]["identity"] == other_identity.display_name
        assert "ask again" in body["detail"]


def test_api_deliver_again_is_300_when_ambiguous(acting_api_as, admin_user, identity, other_identity):
    make_file(identity, webadmit_id=207_434)
    make_file(other_identity, webadmit_id=207_434)

    response = acting_api_as(admin_user).post(api_file(207_434, "/deliver-again"))

    assert response.status_code == 300
    assert len(response.json()["candidates"]) == 2


def test_api_invisible_webadmit_id_is_404(api_as, staff_granted, other_identity):
    make_file(other_identity, webadmit_id=207_434)

    assert api_as(staff_granted).get(api_file(207_434)).status_code == 404


def test_api_list_filters_by_webadmit_id(api_as, admin_user, identity, other_identity):
    wanted = [make_file(identity, webadmit_id=207_434), make_file(other_identity, webadmit_id=207_434)]
    make_file(identity, webadmit_id=207_435)

    response = api_as(admin_user).get("/api/v1/files", {"webadmit_id": 207_434})

    assert response.status_code == 200
    assert sorted(item["id"] for item in response.json()["items"]) == sorted(f.pk for f in wanted)
    csv = api_as(admin_user).get("/api/v1/files.csv", {"webadmit_id": 207_435})
    assert b"207435" in b"".join(csv.streaming_content) and csv.status_code == 200


def test_api_list_refuses_a_webadmit_id_that_is_not_a_number(api_as, admin_user):
    response = api_as(admin_user).get("/api/v1/files", {"webadmit_id": "abc"})

    assert response.status_code == 422
    assert "webadmit_id" in str(response.json()["detail"])
