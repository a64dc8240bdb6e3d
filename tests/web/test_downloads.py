"""Download on demand: a fresh URL from WebAdMIT (the simulator, over HTTP), followed at once, never kept."""

from __future__ import annotations

import logging

import pytest
import requests
import responses

from tests.support.factories import make_export, make_file
from webadmit_dash.core.models import Credential, DownloadEvent, ExportFile
from webadmit_dash.engine import downloads
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db
Outcome = DownloadEvent.Outcome


@pytest.fixture
def sim_file(sim_identity, world) -> tuple[ExportFile, object]:
    """Our row for a file the simulator holds as Available (forced, so it cannot move)."""
    state = world.files(sim_identity.webadmit_id)[0]
    world.force_status(state.id, "Available")
    export = world.export(state.export_id)
    return (
        make_file(
            sim_identity,
            FileStatus.AVAILABLE,
            webadmit_id=state.id,
            export=make_export(sim_identity, export.id, export.name),
        ),
        export,
    )


def test_download_redirects_at_once_to_a_fresh_url_that_serves_the_file(client, admin_user, sim_file, caplog):
    export_file, export = sim_file
    client.force_login(admin_user)
    with caplog.at_level(logging.DEBUG):
        response = client.get(f"/files/{export_file.pk}/download/")
    assert response.status_code == 302
    url = response["Location"]
    assert "/_s3/" in url and "Signature=" in url
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    # The simulator's S3 serves the export, as an attachment named after it.
    delivered = requests.get(url, timeout=5)
    assert delivered.status_code == 200
    assert delivered.headers["Content-Disposition"].startswith("attachment;")
    assert export.name in delivered.headers["Content-Disposition"]
    # The URL is audited as an outcome only, and never logged.
    event = DownloadEvent.objects.get()
    assert (event.user, event.export_file, event.outcome) == (admin_user, export_file, Outcome.REDIRECTED)
    assert event.file_webadmit_id == export_file.webadmit_id
    assert "Signature" not in caplog.text and url not in caplog.text
    assert url not in event.message


def test_every_click_mints_a_new_url(client, admin_user, sim_file, world):
    export_file, _ = sim_file
    client.force_login(admin_user)
    first = client.get(f"/files/{export_file.pk}/download/")["Location"]
    world.advance(2)
    second = client.get(f"/files/{export_file.pk}/download/")["Location"]
    assert first != second
    assert DownloadEvent.objects.filter(outcome=Outcome.REDIRECTED).count() == 2


def test_a_file_webadmit_no_longer_has_gets_a_clear_page(client, admin_user, sim_identity):
    gone = make_file(sim_identity, FileStatus.AVAILABLE, webadmit_id=999_999)
    client.force_login(admin_user)
    response = client.get(f"/files/{gone.pk}/download/")
    assert response.status_code == 410
    html = response.content.decode()
    assert "WebAdMIT no longer has this file" in html
    assert "Run the export again" in html
    assert "<Error>" not in html
    assert DownloadEvent.objects.get().outcome == Outcome.NOT_FOUND


def test_a_rejected_key_gets_a_clear_page_and_marks_the_credential(client, admin_user, sim_file, world):
    export_file, _ = sim_file
    world.add_fault("key_rejected")
    client.force_login(admin_user)
    response = client.get(f"/files/{export_file.pk}/download/")
    assert response.status_code == 502
    assert "WebAdMIT rejected the API key for credential" in response.content.decode()
    assert DownloadEvent.objects.get().outcome == Outcome.KEY_REJECTED
    assert Credential.objects.get().health == Credential.Health.KEY_REJECTED


def test_webadmit_being_down_gets_a_clear_page(client, admin_user, sim_file, world):
    export_file, _ = sim_file
    world.add_fault("unavailable")
    client.force_login(admin_user)
    response = client.get(f"/files/{export_file.pk}/download/")
    assert response.status_code == 503
    assert "WebAdMIT is not answering" in response.content.decode()
    assert "Try again" in response.content.decode()
    assert DownloadEvent.objects.get().outcome == Outcome.UNAVAILABLE


def test_a_file_not_yet_ready_upstream_is_not_downloaded(client, admin_user, sim_file, world):
    export_file, _ = sim_file
    world.force_status(export_file.webadmit_id, "In Progress")
    client.force_login(admin_user)
    response = client.get(f"/files/{export_file.pk}/download/")
    assert response.status_code == 409
    assert "still generating this file" in response.content.decode()
    assert DownloadEvent.objects.get().outcome == Outcome.NOT_DOWNLOADABLE


@pytest.mark.parametrize(
    ("status", "words"),
    [(FileStatus.EMPTY_LIST, "matched no applicants"), (FileStatus.FAILED, "the run failed")],
)
def test_empty_and_failed_files_say_why_without_calling_webadmit(client, admin_user, identity, status, words):
    export_file = make_file(identity, status)
    client.force_login(admin_user)
    with responses.RequestsMock() as upstream:  # no call is expected: any would fail the test
        response = client.get(f"/files/{export_file.pk}/download/")
        assert len(upstream.calls) == 0
    assert response.status_code == 409
    assert words in response.content.decode()
    assert DownloadEvent.objects.get().outcome == Outcome.NOT_DOWNLOADABLE


def _e5(export_file: ExportFile, url: str | None) -> dict:
    return {
        "export_files": {
            "id": export_file.webadmit_id,
            "href": export_file.href,
            "export_id": export_file.export_webadmit_id,
            "status": "Available",
            "download_url": url,
        }
    }


@pytest.mark.parametrize(
    "url",
    ["http://files.example.com/export.csv", "ftp://files.example.com/x", "https://user:pw@s3.example.com/x"],
)
def test_download_urls_that_are_not_https_are_refused(client, admin_user, identity, url):
    export_file = make_file(identity)
    client.force_login(admin_user)
    with responses.RequestsMock() as upstream:
        upstream.get(
            f"https://api.webadmit.org/api/v1/exports/{export_file.export_webadmit_id}/export_files/{export_file.webadmit_id}",
            json=_e5(export_file, url),
        )
        response = client.get(f"/files/{export_file.pk}/download/")
    assert response.status_code == 502
    assert "not a secure (https) link" in response.content.decode()
    assert url not in response.content.decode()
    assert DownloadEvent.objects.get().outcome == Outcome.UNSAFE_URL


def test_loopback_http_urls_are_followed_only_when_allowed(settings):
    settings.WEBADMIT_ALLOW_LOOPBACK = False
    assert not downloads.is_followable("http://127.0.0.1:8025/_s3/file.csv")
    settings.WEBADMIT_ALLOW_LOOPBACK = True
    assert downloads.is_followable("http://127.0.0.1:8025/_s3/file.csv")
    assert downloads.is_followable("http://localhost/_s3/file.csv")
    assert not downloads.is_followable("http://10.0.0.1/_s3/file.csv")
    assert downloads.is_followable("https://s3.amazonaws.com/bucket/key?Signature=x")
    assert not downloads.is_followable("https://s3.amazonaws.com/a\r\nSet-Cookie: x")


def test_staff_cannot_download_another_identitys_file_by_guessing_its_id(
    client, staff_granted, staff_none, other_identity
):
    theirs = make_file(other_identity)
    for user in (staff_granted, staff_none):
        client.force_login(user)
        with responses.RequestsMock() as upstream:
            response = client.get(f"/files/{theirs.pk}/download/")
            assert len(upstream.calls) == 0
        assert response.status_code == 404
    assert client.get("/files/987654/download/").status_code == 404
    assert not DownloadEvent.objects.exists()


def test_download_requires_sign_in(client, identity):
    export_file = make_file(identity)
    response = client.get(f"/files/{export_file.pk}/download/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
