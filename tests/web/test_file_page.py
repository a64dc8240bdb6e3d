"""A file's page (/files/<id>/): its history with times and how long each step took, who started and downloaded it,
and the other runs of its export; under the same 404 rule as every other page. Also Run again's confirmation page and
the refused download's way back to the list."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.support.factories import listed, make_export, make_file
from webadmit_dash.core.models import DownloadEvent, ExportFile, RunRequest
from webadmit_dash.engine import apply
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(identity):
    """Run 2 of export 335158: queued, in progress two minutes later, available seven minutes after that; run 1
    failed before it, run 3 started after it; and a run of another export."""
    t0 = timezone.now() - timedelta(hours=2)
    make_export(identity, 335158, "Nightly Banner Export")
    apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "Queued"), listed(9, "Available", 42)], t0)
    apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "In Progress")], t0 + timedelta(minutes=2))
    apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "Available")], t0 + timedelta(minutes=9))
    apply.apply_listing(
        identity, [listed(1, "Failed"), listed(2, "Available"), listed(3, "Queued")], t0 + timedelta(hours=1)
    )
    files = {f.webadmit_id: f for f in ExportFile.objects.filter(identity=identity)}
    return {"t0": t0, "files": files}


def test_the_file_page_shows_every_status_change_with_its_time_and_how_long_it_lasted(
    client, staff_granted, identity, history, settings
):
    settings.TIME_ZONE = "America/New_York"
    run = history["files"][2]
    client.force_login(staff_granted)
    response = client.get(f"/files/{run.pk}/")
    assert response.status_code == 200
    html = response.content.decode()

    timeline = re.search(r'<ol class="timeline" id="timeline">(.*?)</ol>', html, re.S).group(1)
    steps = re.findall(r'<li class="timeline__step.*?</li>', timeline, re.S)
    assert [re.search(r'badge__text">([^<]+)<', step).group(1) for step in steps] == [
        "Queued",
        "In Progress",
        "Available",
    ]
    assert [" ".join(re.search(r'timeline__took">(.*?)</span>', step, re.S).group(1).split()) for step in steps] == [
        "took 2 min",
        "took 7 min",
        "final",
    ]
    # Absolute times in the user's zone, and relative ones.
    local = history["t0"].astimezone(ZoneInfo("America/New_York"))
    assert f"{local:%a} {local.day} {local:%b %Y, %H:%M:%S} {local:%Z} (America/New_York)" in steps[0]
    assert "2 h ago" in steps[0]
    assert "Nightly Banner Export" in html and "SOPHAS · School of Public Health" in html


def test_the_file_page_says_who_started_and_who_downloaded_it(client, staff_granted, admin_user, identity, history):
    run = history["files"][2]
    RunRequest.objects.create(
        user=admin_user,
        identity=identity,
        requested_from=history["files"][1],
        file_webadmit_id=1,
        export_webadmit_id=run.export_webadmit_id,
        run=run,
        run_webadmit_id=2,
    )
    DownloadEvent.objects.create(
        user=staff_granted, export_file=run, file_webadmit_id=2, outcome=DownloadEvent.Outcome.REDIRECTED
    )
    client.force_login(staff_granted)
    html = client.get(f"/files/{run.pk}/").content.decode()
    assert re.search(r"<dt>Started</dt><dd>\s*here by alice,", html)
    downloads = re.search(r'<ul class="plainlist" id="downloads">(.*?)</ul>', html, re.S).group(1)
    assert "<strong>bob</strong>" in downloads and "Redirected to the file" in downloads
    # A run started elsewhere says so.
    html = client.get(f"/files/{history['files'][3].pk}/").content.decode()
    assert "in WebAdMIT (or another tool): not from this dashboard" in html
    assert "Nobody has downloaded this file" in html


def test_the_file_page_lists_the_earlier_and_later_runs_of_its_export_only(client, staff_granted, history):
    files = history["files"]
    client.force_login(staff_granted)
    html = client.get(f"/files/{files[2].pk}/").content.decode()
    siblings = re.search(r'<table class="runs" id="siblings">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r"<tr(?: [^>]*)?>\s*<td data-label=\"File\">(?:<a [^>]*>)?(\d+)", siblings) == ["3", "2", "1"]
    assert f'href="/files/{files[3].pk}/?' in siblings and "later" in siblings
    assert f'href="/files/{files[1].pk}/?' in siblings and "earlier" in siblings
    assert "(this file)" in siblings
    assert "9" not in re.findall(r">(\d+)<", siblings), "another export's run is not a sibling"
    # The failed first run is superseded by this one, and says so.
    assert f're-run → <a href="/files/{files[2].pk}/">file 2</a>' in siblings
    first = client.get(f"/files/{files[1].pk}/").content.decode()
    assert re.search(rf'Superseded by <a href="/files/{files[2].pk}/">file 2</a>: Available', first)


def test_each_row_of_the_list_links_to_its_file_page(client, staff_granted, identity):
    export_file = make_file(identity, FileStatus.QUEUED)
    client.force_login(staff_granted)
    html = client.get("/").content.decode()
    link = f'<a class="file__name" href="/files/{export_file.pk}/" title="Nightly Banner Export">'
    assert link + "Nightly Banner Export</a>" in html


def test_the_file_page_of_a_file_the_user_may_not_see_is_a_404_whatever_the_id(
    client, staff_granted, staff_none, identity, other_identity
):
    mine, theirs = make_file(identity), make_file(other_identity)
    client.force_login(staff_granted)
    assert client.get(f"/files/{mine.pk}/").status_code == 200
    assert client.get(f"/files/{theirs.pk}/").status_code == 404
    for guessed in (theirs.pk + 1000, 0, 2**63, 2**70):
        assert client.get(f"/files/{guessed}/").status_code == 404, guessed
    client.force_login(staff_none)
    assert client.get(f"/files/{mine.pk}/").status_code == 404
    client.logout()
    assert client.get(f"/files/{mine.pk}/")["Location"].startswith("/accounts/login/")


def test_run_again_without_javascript_asks_on_a_page_of_its_own_then_starts(client, staff_granted, identity):
    export_file = make_file(identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    html = client.get(f"/files/{export_file.pk}/run-again/?next=/%3Fstatus%3Dfailed").content.decode()
    assert "Run Nightly Banner Export again?" in html
    form = re.search(rf'<form method="post" action="/files/{export_file.pk}/run-again/".*?</form>', html, re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in form and 'name="next" value="/?status=failed"' in form
    assert '<a class="btn" href="/?status=failed">Cancel</a>' in form
    # A `next` elsewhere is not followed.
    html = client.get(f"/files/{export_file.pk}/run-again/?next=https://evil.example/").content.decode()
    assert 'name="next" value="/"' in html
    # Asking changes nothing: only the POST starts a run.
    assert not RunRequest.objects.exists()


def test_the_refused_download_page_leads_back_to_the_list_with_its_filters(client, staff_granted, identity):
    failed = make_file(identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    response = client.get(f"/files/{failed.pk}/download/?next=/%3Fstatus%3Dfailed%26q%3DBanner")
    assert response.status_code == 409
    html = response.content.decode()
    assert '<a class="btn btn--primary" href="/?status=failed&amp;q=Banner">Back to Recent Files</a>' in html
    # Running it again asks first, and comes back to the same list.
    assert f'href="/files/{failed.pk}/run-again/?next=%2F%3Fstatus%3Dfailed%26q%3DBanner"' in html
    for elsewhere in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        html = client.get(f"/files/{failed.pk}/download/", {"next": elsewhere}).content.decode()
        assert '<a class="btn btn--primary" href="/">Back to Recent Files</a>' in html, elsewhere


def test_every_page_names_a_file_whose_export_is_not_named_yet_alike(client, staff_granted, identity):
    """Until E3 has named its export, a file is "Export <id>" everywhere (ExportFile.export_name)."""
    export_file = make_file(identity)
    ExportFile.objects.filter(pk=export_file.pk).update(export=None)
    client.force_login(staff_granted)

    file_page = client.get(reverse("file_detail", args=[export_file.pk])).content.decode()
    run_again_page = client.get(reverse("run_again", args=[export_file.pk])).content.decode()

    assert ExportFile.objects.get(pk=export_file.pk).export_name == "Export 29897"
    assert "Export 29897" in file_page
    assert "Export 29897" in run_again_page
