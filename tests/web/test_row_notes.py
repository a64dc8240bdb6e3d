"""What a Recent Files row adds under its status (web/row_notes.py) and the Running chip: "downloaded by Maria 09:02"
(the latest download that gave someone the file, by display name), "a newer run is going" on a failed run (gone once
that run ends, on the next poll), and `status=running` listing every unfinished run, counted like the title."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from tests.support.factories import change_status, make_export, make_file
from webadmit_dash.core.models import DownloadEvent, ExportFile
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


def _page(client, user, **query) -> str:
    client.force_login(user)
    return client.get("/", query).content.decode()


def _note(html: str, kind: str, pk: int) -> str | None:
    found = re.search(rf'<span class="file__{kind}" id="{kind}-{pk}">(.*?)</span>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else None


def _downloaded(export_file: ExportFile, user: User | None, outcome: str = "redirected") -> DownloadEvent:
    return DownloadEvent.objects.create(
        user=user, export_file=export_file, file_webadmit_id=export_file.webadmit_id, outcome=outcome
    )


def test_a_row_says_who_last_downloaded_it_by_their_display_name(client, staff_granted, identity, django_user_model):
    maria = django_user_model.objects.create_user("maria", first_name="Maria", last_name="Núñez")
    plain = django_user_model.objects.create_user("jo")
    ready, other = make_file(identity, FileStatus.AVAILABLE), make_file(identity, FileStatus.AVAILABLE)
    _downloaded(ready, plain)
    _downloaded(ready, maria)
    # Later clicks that did not give anyone the file do not count.
    _downloaded(ready, plain, outcome="not_found")  # WebAdMIT no longer had it
    _downloaded(ready, plain, outcome="not_downloadable")
    _downloaded(other, plain, outcome="rate_limited")

    html = _page(client, staff_granted)

    assert re.fullmatch(r"downloaded by Maria Núñez \d\d:\d\d", _note(html, "downloaded", ready.pk))
    assert _note(html, "downloaded", other.pk) is None


def test_the_username_when_no_full_name_and_someone_when_the_user_was_deleted(client, staff_granted, identity):
    by_jo, by_gone = make_file(identity, FileStatus.AVAILABLE), make_file(identity, FileStatus.AVAILABLE)
    _downloaded(by_jo, User.objects.create_user("jo<script>"))
    _downloaded(by_gone, None, outcome="from_archive")

    html = _page(client, staff_granted)

    assert _note(html, "downloaded", by_jo.pk).startswith("downloaded by jo&lt;script&gt; ")
    assert _note(html, "downloaded", by_gone.pk).startswith("downloaded by someone ")


def test_a_failed_run_says_a_newer_run_is_going_until_it_ends(client, staff_granted, identity):
    export = make_export(identity, 51, "Weekly roster")
    older_going = make_file(identity, FileStatus.QUEUED, export=export)
    failed = make_file(identity, FileStatus.FAILED, export=export)
    elsewhere = make_file(identity, FileStatus.FAILED)  # another export's failure: its runs are not this one's
    newer = make_file(identity, FileStatus.IN_PROGRESS, export=export)

    html = _page(client, staff_granted)

    assert re.fullmatch(r"a newer run is going: started \d\d:\d\d", _note(html, "newer", failed.pk))
    assert f'<a href="/files/{newer.pk}/">started' in html
    assert _note(html, "newer", elsewhere.pk) is None
    assert _note(html, "newer", older_going.pk) is None

    # The newer run fails too: the next poll re-renders the older failure (its own file did not change), without
    # the note.
    poll = re.search(r'<div id="poller"[^>]*hx-get="([^"]+)"', html, re.S).group(1).replace("&amp;", "&")
    change_status(newer, FileStatus.FAILED)
    answer = client.get(poll, **HTMX).content.decode()
    assert f'<tr id="file-{failed.pk}"' in answer
    assert _note(answer, "newer", failed.pk) is None
    # Re-rendered for its note alone, it is not news for screen readers.
    assert f"file {failed.webadmit_id}: Failed" not in answer


def test_a_superseded_or_acknowledged_failure_is_not_told_of_a_newer_run_unless_open(client, staff_granted, identity):
    export = make_export(identity, 52, "Deposits")
    failed = make_file(identity, FileStatus.FAILED, export=export)
    good = make_file(identity, FileStatus.AVAILABLE, export=export)
    ExportFile.objects.filter(pk=failed.pk).update(superseded_by=good)
    make_file(identity, FileStatus.QUEUED, export=export)

    assert _note(_page(client, staff_granted), "newer", failed.pk) is None


def test_the_running_chip_lists_every_unfinished_run_and_counts_them(client, staff_granted, identity):
    running = [make_file(identity, status) for status in (FileStatus.INITIALIZING, FileStatus.QUEUED,
                                                            FileStatus.IN_PROGRESS, FileStatus.UNKNOWN)]  # fmt: skip
    settled = [make_file(identity, status) for status in (FileStatus.AVAILABLE, FileStatus.FAILED)]
    superseded = make_file(identity, FileStatus.QUEUED)
    ExportFile.objects.filter(pk=superseded.pk).update(superseded_by=settled[0])

    everything = _page(client, staff_granted)
    html = _page(client, staff_granted, status="running")

    listed = {int(pk) for pk in re.findall(r'<tr id="file-(\d+)"', html)}
    assert listed == {run.pk for run in running}
    assert re.search(r'id="count-running"\s*>4<', html) and re.search(r'id="count-running"\s*>4<', everything)
    assert "4 running" in re.search(r"<title>(.*?)</title>", everything, re.S).group(1)
    assert 'value="running" checked' in html
    assert "1\u20134 of 4" in html
    # With another chip, each file once.
    both = _page(client, staff_granted, status=["running", "queued", "failed"])
    assert {int(pk) for pk in re.findall(r'<tr id="file-(\d+)"', both)} == {run.pk for run in running} | {settled[1].pk}
    assert "1\u20135 of 5" in both


def test_a_wrong_status_value_is_ignored_not_an_error(client, staff_granted, identity):
    make_file(identity, FileStatus.QUEUED)
    client.force_login(staff_granted)
    for value in ("Running", "running\r\n", "run", "running" * 50):
        response = client.get("/", {"status": value})
        assert response.status_code == 200
        assert 'value="running" checked' not in response.content.decode()


def test_a_failure_links_its_exports_newest_run_going_not_an_older_one(client, admin_user, identity, other_identity):
    export = make_export(identity, 53, "Interviews")
    failed = make_file(identity, FileStatus.FAILED, export=export)
    make_file(identity, FileStatus.QUEUED, export=export)
    newest = make_file(identity, FileStatus.IN_PROGRESS, export=export)
    # The same export id under another identity is another export: its runs say nothing of this failure.
    make_file(other_identity, FileStatus.QUEUED, export=make_export(other_identity, 53, "Interviews"))

    html = _page(client, admin_user)

    assert _note(html, "newer", failed.pk).startswith("a newer run is going")
    assert f'<a href="/files/{newest.pk}/">started' in html
    assert html.count("a newer run is going") == 1
