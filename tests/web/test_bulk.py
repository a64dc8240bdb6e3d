"""The bulk bar's buttons: Acknowledge, Run again and Download as zip for many files, and what they refuse."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from tests.support.factories import make_export, make_file
from webadmit_dash.core.models import DownloadEvent, ExportFile, RunRequest
from webadmit_dash.engine.models import InteractiveCall
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


def messages_in(html: str) -> list[str]:
    return re.findall(r'<p class="message message--\w+">(.*?)</p>', html, re.S)


# --- Which files: ids checked against what the user sees, or the filters read again -------------------------------


def test_bulk_acknowledge_acknowledges_failures_and_says_what_it_skipped(client, staff_granted, identity):
    failed = [make_file(identity, FileStatus.FAILED, export=make_export(identity, n)) for n in (1, 2)]
    available = make_file(identity, FileStatus.AVAILABLE)
    client.force_login(staff_granted)
    response = client.post("/files/bulk/acknowledge/", {"file": [f.pk for f in failed] + [available.pk]}, **HTMX)
    assert messages_in(response.content.decode()) == ["2 failures acknowledged. 1 skipped: 1 had not failed."]
    for export_file in failed:
        export_file.refresh_from_db()
        # The same effect and record as the row's own Acknowledge: who and when.
        assert export_file.acknowledged_by == staff_granted and export_file.acknowledged_at is not None
    assert ExportFile.objects.get(pk=available.pk).acknowledged_at is None
    # The page polls at once, and its bar clears the selection.
    assert "files-changed" in response["HX-Trigger"] and "bulk-done" in response["HX-Trigger"]


def test_bulk_acknowledge_leaves_out_files_the_user_may_not_see(client, staff_granted, identity, other_identity):
    mine = make_file(identity, FileStatus.FAILED)
    theirs = make_file(other_identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    html = client.post("/files/bulk/acknowledge/", {"file": [mine.pk, theirs.pk, 2**63, "x"]}, **HTMX).content
    assert messages_in(html.decode()) == [
        "1 failure acknowledged. 1 selected file was left out: no longer listed, or not shared with you."
    ]
    assert ExportFile.objects.get(pk=theirs.pk).acknowledged_at is None
    # Only someone else's ids: nothing is done.
    html = client.post("/files/bulk/acknowledge/", {"file": [theirs.pk]}, **HTMX).content
    assert messages_in(html.decode())[0].startswith("No file is selected that you can see.")
    assert ExportFile.objects.get(pk=theirs.pk).acknowledged_at is None


def test_bulk_acknowledge_of_files_that_did_not_fail_acknowledges_nothing(client, staff_granted, identity):
    files = [make_file(identity, status) for status in (FileStatus.AVAILABLE, FileStatus.QUEUED)]
    client.force_login(staff_granted)
    html = client.post("/files/bulk/acknowledge/", {"file": [f.pk for f in files]}, **HTMX).content.decode()
    assert messages_in(html) == ["0 failures acknowledged. 2 skipped: 2 had not failed."]
    assert not ExportFile.objects.filter(acknowledged_at__isnull=False).exists()


def test_all_matching_reads_the_filters_again_within_what_the_user_sees(
    client, staff_granted, identity, other_identity
):
    mine = [make_file(identity, FileStatus.FAILED, export=make_export(identity, n)) for n in (1, 2, 3)]
    make_file(identity, FileStatus.AVAILABLE)
    theirs = make_file(other_identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    html = client.post("/files/bulk/acknowledge/", {"all": "1", "filters": "status=failed"}, **HTMX).content
    assert messages_in(html.decode()) == ["3 failures acknowledged."]
    assert ExportFile.objects.filter(pk__in=[f.pk for f in mine], acknowledged_by=staff_granted).count() == 3
    # A doctored filter naming someone else's identity lists nothing, as on the page.
    query = f"identity={other_identity.pk}"
    html = client.post("/files/bulk/acknowledge/", {"all": "1", "filters": query}, **HTMX).content
    assert messages_in(html.decode())[0].startswith("No file is selected that you can see.")
    assert ExportFile.objects.get(pk=theirs.pk).acknowledged_at is None


def test_a_selection_over_the_cap_is_refused_whole(client, staff_granted, identity, monkeypatch):
    monkeypatch.setattr("webadmit_dash.web.views.bulk.MAX_FILES", 2)
    files = [make_file(identity, FileStatus.FAILED, export=make_export(identity, n)) for n in (1, 2, 3)]
    client.force_login(staff_granted)
    for data in ({"all": "1", "filters": ""}, {"file": [f.pk for f in files]}):
        html = client.post("/files/bulk/acknowledge/", data, **HTMX).content.decode()
        assert messages_in(html) == [
            "3 files are selected; Acknowledge takes at most 2 at once. Narrow the filters and try again."
        ]
    assert not ExportFile.objects.filter(acknowledged_at__isnull=False).exists()


def test_bulk_buttons_need_post_sign_in_and_csrf(client, staff_granted, identity):
    export_file = make_file(identity, FileStatus.FAILED)
    assert client.post("/files/bulk/acknowledge/", {"file": [export_file.pk]})["Location"].startswith("/accounts/")
    client.force_login(staff_granted)
    assert client.get("/files/bulk/acknowledge/").status_code == 405
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_granted)
    for url in ("/files/bulk/acknowledge/", "/files/bulk/run-again/", "/files/bulk/download/"):
        assert strict.post(url, {"file": [export_file.pk]}).status_code == 403
    assert ExportFile.objects.get(pk=export_file.pk).acknowledged_at is None


# --- Run again ------------------------------------------------------------------------------------------------------


@pytest.fixture
def sim_failures(sim_identity, world):
    """Three failed runs of three exports of the simulated identity, known here as WebAdMIT lists them."""
    made = []
    for upstream_export in world.exports(sim_identity.webadmit_id)[:3]:
        state = world.files(sim_identity.webadmit_id, upstream_export.id)[0]
        world.force_status(state.id, "Failed")
        export = make_export(sim_identity, upstream_export.id, upstream_export.name)
        made.append(make_file(sim_identity, FileStatus.FAILED, webadmit_id=state.id, export=export))
    return made


def test_bulk_run_again_asks_first_naming_how_many_runs(client, admin_user, sim_failures, sim_identity, world):
    running = make_file(sim_identity, FileStatus.IN_PROGRESS, export=sim_failures[0].export)
    client.force_login(admin_user)
    ids = [f.pk for f in sim_failures] + [running.pk]
    response = client.post("/files/bulk/run-again/", {"file": ids}, **HTMX)
    html = response.content.decode()
    assert "Start 3 new runs?" in html and 'id="bulk-run-confirm"' in html
    assert "1 skipped: 1 still running (WebAdMIT would keep that run)." in html
    assert not RunRequest.objects.exists()
    # Without JavaScript, the same question is a page of its own.
    page = client.post("/files/bulk/run-again/", {"file": ids}).content.decode()
    assert "<title>Start 3 new runs? · webadmit-dash</title>" in page


def test_bulk_run_again_starts_one_audited_run_per_export(client, admin_user, sim_failures, sim_identity, world):
    before = {state.id for state in world.files(sim_identity.webadmit_id)}
    client.force_login(admin_user)
    ids = [f.pk for f in sim_failures]
    html = client.post("/files/bulk/run-again/", {"file": ids, "confirm": "1"}, **HTMX).content.decode()
    assert messages_in(html) == ["WebAdMIT is running 3 exports again; the new runs are listed at the top."]
    new = {state.id for state in world.files(sim_identity.webadmit_id)} - before
    assert len(new) == 3
    audits = RunRequest.objects.filter(user=admin_user)
    assert sorted(audits.values_list("requested_from_id", flat=True)) == sorted(ids)
    assert set(audits.values_list("run_webadmit_id", flat=True)) == new
    # Each counted in the key's budget, as its row's Run again is.
    assert InteractiveCall.objects.filter(user=admin_user).count() == 3


@pytest.mark.parametrize("confirm", [False, True])
def test_bulk_run_again_refuses_a_batch_the_budget_would_not_fit(
    client, admin_user, sim_failures, sim_identity, world, settings, confirm
):
    settings.WEBADMIT_INTERACTIVE_PER_MINUTE = 3
    # Two calls of this person 20 seconds ago: one more fits now, all three once those leave the minute.
    made_at = timezone.now() - timedelta(seconds=20)
    for _ in range(2):
        InteractiveCall.objects.create(user=admin_user, credential=sim_identity.credential, made_at=made_at)
    before = {state.id for state in world.files(sim_identity.webadmit_id)}
    client.force_login(admin_user)
    data = {"file": [f.pk for f in sim_failures], **({"confirm": "1"} if confirm else {})}
    html = client.post("/files/bulk/run-again/", data, **HTMX).content.decode()
    refusal = re.search(
        r"3 runs would not fit in what one person may ask \(3 a minute\): 1 would fit now, "
        r"all of them in about (\d+) seconds\. Nothing was started\.",
        html,
    )
    assert refusal is not None, html
    assert 35 <= int(refusal.group(1)) <= 41
    assert 'id="bulk-run-confirm"' not in html
    assert {state.id for state in world.files(sim_identity.webadmit_id)} == before
    assert not RunRequest.objects.exists()


def test_bulk_run_again_over_a_keys_hourly_share_says_select_fewer(
    client, admin_user, sim_failures, sim_identity, sim_credential
):
    sim_credential.rate_limit_per_hour = 20  # a 10 % share: 2 interactive calls an hour
    sim_credential.save(update_fields=["rate_limit_per_hour"])
    client.force_login(admin_user)
    data = {"file": [f.pk for f in sim_failures], "confirm": "1"}
    (message,) = messages_in(client.post("/files/bulk/run-again/", data, **HTMX).content.decode())
    assert message == (
        "3 runs would not fit in the hourly share of credential “Simulated” (2 downloads and runs an hour): "
        "2 would fit now. Select fewer files. Nothing was started."
    )
    assert not RunRequest.objects.exists()


def test_bulk_run_again_of_someone_elses_files_calls_nobody(client, staff_granted, other_identity):
    theirs = make_file(other_identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    with responses.RequestsMock() as upstream:
        html = client.post("/files/bulk/run-again/", {"file": [theirs.pk], "confirm": "1"}, **HTMX).content
        assert len(upstream.calls) == 0
    assert messages_in(html.decode())[0].startswith("No file is selected that you can see.")
    assert not RunRequest.objects.exists()


# --- Download as zip ------------------------------------------------------------------------------------------------


def _zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_download_as_zip_holds_each_file_and_an_index(client, admin_user, sim_identity, world):
    # Text files: the simulator builds a zip afresh for each download, dated inside.
    states = [
        s
        for s in world.files(sim_identity.webadmit_id)
        if s.status == "available" and world.export(s.export_id).extension in ("csv", "txt", "html")
    ]
    assert len(states) >= 2, "the simulated world has downloadable text files"
    files = []
    for state in states[:2]:
        upstream = world.export(state.export_id)
        export = make_export(sim_identity, upstream.id, '=HYPERLINK("x") ' + upstream.name)
        files.append(make_file(sim_identity, FileStatus.AVAILABLE, webadmit_id=state.id, export=export))
    failed = make_file(sim_identity, FileStatus.FAILED)
    client.force_login(admin_user)
    archive = _zip(client.post("/files/bulk/download/", {"file": [f.pk for f in files] + [failed.pk]}))
    index = list(csv.reader(io.StringIO(archive.read("index.csv").decode("utf-8-sig"))))
    assert index[0] == ["File", "File id", "Identity", "Export", "Status", "Size (bytes)", "Error"]
    by_id = {int(line[1]): line for line in index[1:]}
    for export_file in files:
        line = by_id[export_file.webadmit_id]
        body = world.download(export_file.webadmit_id).body
        assert archive.read(line[0]) == body and int(line[5]) == len(body) and line[6] == ""
        assert line[3].startswith("'=HYPERLINK")  # safe to open in a spreadsheet
    assert by_id[failed.webadmit_id][0] == "" and "the run failed" in by_id[failed.webadmit_id][6]
    assert sorted(archive.namelist()) == sorted([by_id[f.webadmit_id][0] for f in files] + ["index.csv"])
    # Each file fetched is audited as a single download is; the failed one asked WebAdMIT nothing.
    assert sorted(DownloadEvent.objects.values_list("export_file_id", flat=True)) == sorted(f.pk for f in files)
    assert InteractiveCall.objects.count() == 2


def test_a_file_webadmit_refuses_is_a_line_of_the_index_not_a_broken_zip(client, admin_user, sim_identity, world):
    state = next(s for s in world.files(sim_identity.webadmit_id) if s.status == "available")
    export = make_export(sim_identity, state.export_id, world.export(state.export_id).name)
    good = make_file(sim_identity, FileStatus.AVAILABLE, webadmit_id=state.id, export=export)
    lost = make_file(sim_identity, FileStatus.AVAILABLE, webadmit_id=999_999_001, export=export)  # unknown upstream
    client.force_login(admin_user)
    archive = _zip(client.post("/files/bulk/download/", {"file": [good.pk, lost.pk]}))
    index = {
        int(line[1]): line
        for line in csv.reader(io.StringIO(archive.read("index.csv").decode("utf-8-sig")))
        if line[1].isdigit()
    }
    assert index[good.webadmit_id][6] == "" and archive.read(index[good.webadmit_id][0])
    assert index[lost.webadmit_id][0] == "" and index[lost.webadmit_id][6]
    assert DownloadEvent.objects.filter(export_file=lost).exists()


def test_download_as_zip_over_the_cap_goes_back_with_a_message(client, staff_granted, identity, monkeypatch):
    monkeypatch.setattr("webadmit_dash.web.views.bulk.MAX_FILES_PER_ZIP", 1)
    files = [make_file(identity, FileStatus.AVAILABLE) for _ in range(2)]
    client.force_login(staff_granted)
    with responses.RequestsMock() as upstream:
        response = client.post("/files/bulk/download/", {"file": [f.pk for f in files], "next": "/?q=x"})
        assert len(upstream.calls) == 0
    assert response.status_code == 302 and response["Location"] == "/?q=x"
    page = client.get("/?q=x").content.decode()
    assert "2 files are selected; a zip takes at most 1 at once. Narrow the filters and try again." in page
    assert not DownloadEvent.objects.exists()


def test_download_as_zip_refuses_what_the_budget_would_not_fit(client, admin_user, sim_identity, world, settings):
    settings.WEBADMIT_INTERACTIVE_PER_MINUTE = 1
    states = [s for s in world.files(sim_identity.webadmit_id) if s.status == "available"][:2]
    files = [make_file(sim_identity, FileStatus.AVAILABLE, webadmit_id=s.id) for s in states]
    client.force_login(admin_user)
    response = client.post("/files/bulk/download/", {"file": [f.pk for f in files]})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert "2 downloads from WebAdMIT would not fit in what one person may ask (1 a minute)" in page
    assert not DownloadEvent.objects.exists()


def test_download_as_zip_takes_archived_copies_without_asking_webadmit(client, staff_granted, identity):
    from tests.support.collection import EXPORT_BYTES, collect, tamper

    expired = make_file(identity, FileStatus.AVAILABLE, gone=True)  # WebAdMIT forgot it; the archive did not
    kept = collect(expired)
    damaged = make_file(identity, FileStatus.AVAILABLE)
    tamper(collect(damaged))
    client.force_login(staff_granted)
    with responses.RequestsMock() as upstream:
        archive = _zip(client.post("/files/bulk/download/", {"file": [expired.pk, damaged.pk]}))
        assert len(upstream.calls) == 0
    index = {
        int(line[1]): line
        for line in csv.reader(io.StringIO(archive.read("index.csv").decode("utf-8-sig")))
        if line[1].isdigit()
    }
    assert archive.read(index[expired.webadmit_id][0]) == EXPORT_BYTES
    assert int(index[expired.webadmit_id][5]) == kept.size == len(EXPORT_BYTES)
    # A copy that fails its check is not served, nor quietly replaced: the index says why.
    assert index[damaged.webadmit_id][0] == "" and "failed its integrity check" in index[damaged.webadmit_id][6]
    outcomes = dict(DownloadEvent.objects.values_list("export_file_id", "outcome"))
    assert outcomes == {expired.pk: "from_archive", damaged.pk: "archive_tampered"}
