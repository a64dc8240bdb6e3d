"""The failure lifecycle on Recent Files: superseded runs, acknowledged failures, what counts as needing attention
(the chips, the title, the favicon, the order), honest staleness, and the poll filling an empty list or inserting the
user's own new run."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from tests.support.factories import make_export, make_file
from tests.web.test_poll import HTMX, oob_row_ids, poll_url
from tests.web.test_recent_files import row_ids
from webadmit_dash.core.models import ChangeCounter, ExportFile, RunRequest, UserIdentity
from webadmit_dash.engine import apply
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


def supersede(identity: UserIdentity) -> None:
    """What the engine's apply step does when a run ends well: every export of the identity re-examined."""
    seq = ChangeCounter.next_value()
    exports = set(ExportFile.objects.filter(identity=identity).values_list("export_webadmit_id", flat=True))
    apply.supersede(identity.pk, exports, seq)
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=seq)


def counts(html: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r'id="count-([a-z_]+)"[^>]*>(\d+)<', html)}


def title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def favicon(html: str) -> str:
    return re.search(r'<link rel="icon" id="favicon" href="[^"]*/favicon-(\w+)\.svg"', html).group(1)


@pytest.fixture
def rerun(identity):
    """An export whose run failed two days ago and ran well an hour ago, and an unrelated newer file."""
    now = timezone.now()
    nightly = make_export(identity, 335158, "Nightly Banner Export")
    failed = make_file(identity, FileStatus.FAILED, export=nightly, first_seen_at=now - timedelta(days=2))
    good = make_file(identity, FileStatus.AVAILABLE, export=nightly, first_seen_at=now - timedelta(hours=1))
    other = make_file(
        identity,
        FileStatus.AVAILABLE,
        export=make_export(identity, 335159, "Weekly Roster"),
        first_seen_at=now - timedelta(minutes=30),
    )
    supersede(identity)
    return {"failed": ExportFile.objects.get(pk=failed.pk), "good": good, "other": other}


def test_a_failure_whose_export_ran_well_later_is_muted_links_its_rerun_and_sorts_with_the_settled(
    client, staff_granted, rerun
):
    client.force_login(staff_granted)
    html = client.get("/").content.decode()

    failed, good = rerun["failed"], rerun["good"]
    assert failed.superseded_by_id == good.pk and failed.attention_rank == 1
    # Newest first among the settled files: it no longer jumps the queue.
    assert row_ids(client.get("/")) == [rerun["other"].pk, good.pk, failed.pk]
    row = re.search(rf'<tr id="file-{failed.pk}".*?</tr>', html, re.S).group(0)
    assert "file--superseded" in row
    local = timezone.localtime(good.status_changed_at)
    assert re.search(rf're-run → <a href="/files/{good.pk}/">Available <time [^>]*>{local:%H:%M}</time></a>', row), row
    # Nothing to do about it any more: the later run is the one to download or run again.
    assert "Acknowledge" not in row and "run-again" not in row


def test_superseded_failures_count_neither_as_failed_in_the_chips_nor_in_the_title(client, staff_granted, rerun):
    identity = rerun["failed"].identity
    still_failed = make_file(identity, FileStatus.FAILED, export=make_export(identity, 777, "Fee Waiver Report"))
    make_file(identity, FileStatus.QUEUED, export=make_export(identity, 778, "Slate Import"))
    client.force_login(staff_granted)
    html = client.get("/").content.decode()

    assert title(html) == "1 running · 1 failed · Recent Files"
    chips = counts(html)
    assert (chips["failed"], chips["handled"], chips["all"]) == (1, 1, 5)
    # Running is a group of statuses, counted in theirs too.
    assert chips["all"] == sum(value for name, value in chips.items() if name not in ("all", "running"))
    assert favicon(html) == "failed"
    # Each chip lists what it counts.
    assert row_ids(client.get("/?status=failed")) == [still_failed.pk]
    assert row_ids(client.get("/?status=superseded")) == [rerun["failed"].pk]


def test_the_favicon_says_what_the_title_says(client, staff_granted, identity):
    client.force_login(staff_granted)
    make_file(identity, FileStatus.AVAILABLE)
    assert favicon(client.get("/").content.decode()) == "settled"
    make_file(identity, FileStatus.IN_PROGRESS)
    assert favicon(client.get("/").content.decode()) == "running"
    make_file(identity, FileStatus.FAILED)
    assert favicon(client.get("/").content.decode()) == "failed"


def test_acknowledging_a_failure_settles_it_and_keeps_who_and_when(client, staff_granted, identity):
    now = timezone.now()
    failed = make_file(identity, FileStatus.FAILED, first_seen_at=now - timedelta(days=1))
    newer = make_file(identity, FileStatus.AVAILABLE, export=make_export(identity, 9, "Roster"), first_seen_at=now)
    client.force_login(staff_granted)
    assert title(client.get("/").content.decode()) == "1 failed · Recent Files"

    response = client.post(f"/files/{failed.pk}/acknowledge/", {"next": "/?q=x"}, **HTMX)

    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"]) == {"files-changed": {"target": "body"}}
    failed.refresh_from_db()
    assert failed.acknowledged_by == staff_granted and failed.acknowledged_at is not None
    html = client.get("/").content.decode()
    assert title(html) == "Recent Files"
    # Handled (core.states): the Failed chip says what the title says, and the Handled chip counts it.
    assert (counts(html)["failed"], counts(html)["handled"]) == (0, 1)
    assert row_ids(client.get("/")) == [newer.pk, failed.pk]
    row = re.search(rf'<tr id="file-{failed.pk}".*?</tr>', html, re.S).group(0)
    assert "file--acknowledged" in row and "acknowledged by bob <time" in row and ">Undo<" in row

    # Without htmx it goes back where it was; and it can be taken back.
    response = client.post(f"/files/{failed.pk}/acknowledge/", {"next": "/?q=x", "undo": "1"})
    assert response["Location"] == "/?q=x"
    assert title(client.get("/").content.decode()) == "1 failed · Recent Files"
    assert ExportFile.objects.get(pk=failed.pk).acknowledged_at is None


def test_acknowledge_is_a_signed_in_post_on_a_visible_file(client, staff_granted, staff_none, identity, other_identity):
    mine, theirs = make_file(identity, FileStatus.FAILED), make_file(other_identity, FileStatus.FAILED)
    assert client.post(f"/files/{mine.pk}/acknowledge/")["Location"].startswith("/accounts/login/")
    client.force_login(staff_granted)
    assert client.get(f"/files/{mine.pk}/acknowledge/").status_code == 405
    assert client.post(f"/files/{theirs.pk}/acknowledge/").status_code == 404
    assert client.post(f"/files/{2**70}/acknowledge/").status_code == 404
    client.force_login(staff_none)
    assert client.post(f"/files/{mine.pk}/acknowledge/").status_code == 404
    assert not ExportFile.objects.filter(acknowledged_at__isnull=False).exists()


def test_only_failures_can_be_acknowledged(client, staff_granted, identity):
    available = make_file(identity, FileStatus.AVAILABLE)
    client.force_login(staff_granted)
    client.post(f"/files/{available.pk}/acknowledge/")
    assert ExportFile.objects.get(pk=available.pk).acknowledged_at is None
    assert "has not failed: there is nothing to acknowledge" in client.get("/").content.decode()


# --- The poll: an empty list fills in, the user's own runs go in at once ----------------------------------------


def test_a_page_opened_before_any_file_fills_in_by_itself(client, staff_granted, identity):
    client.force_login(staff_granted)
    html = client.get("/").content.decode()
    assert "No files yet" in html
    poll = poll_url(html)

    files = [make_file(identity, FileStatus.QUEUED), make_file(identity, FileStatus.AVAILABLE)]
    html = client.get(poll, **HTMX).content.decode()

    # The whole results section comes out of band, its rows inside it (no row swapped on its own: none exists).
    assert re.search(r'<section id="results" class="results" aria-label="Files"\s+hx-swap-oob="true">', html)
    assert set(row_ids_in(html)) == {f.pk for f in files}
    assert oob_row_ids(html) == []
    assert "new file" not in html.split('id="announcer"')[0], "no notice: the files are listed"
    assert "2 files listed." in html
    # The next poll knows those rows are on screen and that the list is current.
    params = parse_qs(urlsplit(poll_url(html)).query)
    assert set(params["ids"][0].split(",")) == {str(f.pk) for f in files}
    assert client.get(poll_url(html), **HTMX).status_code == 204


def row_ids_in(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="file-(\d+)"', html)]


def test_a_run_the_user_started_goes_in_at_the_top_while_other_new_files_wait_in_the_notice(
    client, staff_granted, admin_user, identity
):
    shown = make_file(identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    poll = poll_url(client.get("/").content.decode())

    someone_elses = make_file(identity, FileStatus.QUEUED, export=make_export(identity, 41, "Slate Import"))
    mine = make_file(identity, FileStatus.INITIALIZING)
    for user, run in ((staff_granted, mine), (admin_user, someone_elses)):
        RunRequest.objects.create(
            user=user,
            identity=identity,
            requested_from=shown,
            file_webadmit_id=shown.webadmit_id,
            export_webadmit_id=run.export_webadmit_id,
            run=run,
            run_webadmit_id=run.webadmit_id,
        )
    html = client.get(poll, **HTMX).content.decode()

    inserted = re.search(r'<tbody hx-swap-oob="afterbegin:#files-body">(.*?)</tbody>', html, re.S).group(1)
    assert row_ids_in(inserted) == [mine.pk]
    assert "is-updated" in inserted and "hx-swap-oob" not in inserted
    assert "1 new file since this list was loaded" in html
    assert f"Your new run of Nightly Banner Export, file {mine.webadmit_id}, is listed first: Initializing." in html
    ids = parse_qs(urlsplit(poll_url(html)).query)["ids"][0].split(",")
    assert ids == [str(mine.pk), str(shown.pk)]


def test_a_poll_with_nonsense_ids_is_answered_without_error(client, staff_granted, identity):
    make_file(identity)
    client.force_login(staff_granted)
    poll = poll_url(client.get("/").content.decode())
    for ids in ("abc,-1,٣", f"{2**64},{2**63}", ",,,"):
        response = client.get(re.sub(r"ids=[^&]*", f"ids={ids}", poll) + f"&stale={ids}", **HTMX)
        assert response.status_code in (200, 204)


# --- Honest staleness -----------------------------------------------------------------------------------------


def test_rows_of_an_identity_whose_refreshes_fail_say_as_of_when_and_the_title_is_marked(
    client, staff_granted, identity
):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    last_good = timezone.now() - timedelta(minutes=12)
    UserIdentity.objects.filter(pk=identity.pk).update(last_success_at=last_good, error_kind="", error_message="")
    client.force_login(staff_granted)
    html = client.get("/").content.decode()
    assert "as of" not in html and title(html) == "Recent Files"
    poll = poll_url(html)

    # WebAdMIT stops answering: the identity's state changes (a new sequence), its files do not.
    UserIdentity.objects.filter(pk=identity.pk).update(
        error_kind="unavailable", error_message="WebAdMIT did not answer", change_seq=ChangeCounter.next_value()
    )
    local = timezone.localtime(last_good)
    html = client.get(poll, **HTMX).content.decode()

    assert oob_row_ids(html) == [export_file.pk], "the row on screen is re-rendered for its 'as of'"
    assert re.search(rf"as of <time [^>]*>{local:%H:%M}</time>", html)
    assert title(html) == "Stale · Recent Files"
    assert favicon_oob(html) == "stale"
    assert re.search(
        rf"data from <time [^>]*>{local:%H:%M}</time></span>\s*"
        r'<span class="source__note">\s*Last refresh failed \(WebAdMIT unavailable\)',
        html,
        re.S,
    )
    assert 'id="announcer"' not in html, "a row re-rendered for its age is not news"

    # Refreshes work again: the marks go.
    UserIdentity.objects.filter(pk=identity.pk).update(
        error_kind="", last_success_at=timezone.now(), change_seq=ChangeCounter.next_value()
    )
    html = client.get(poll_url(html), **HTMX).content.decode()
    assert oob_row_ids(html) == [export_file.pk]
    assert "as of" not in html and title(html) == "Recent Files"


def favicon_oob(html: str) -> str:
    return re.search(
        r'<link rel="icon" id="favicon" href="[^"]*/favicon-(\w+)\.svg" [^>]*hx-swap-oob="true"', html
    ).group(1)


def test_a_single_failed_refresh_between_good_ones_does_not_mark_anything_stale(client, staff_granted, identity):
    make_file(identity, FileStatus.AVAILABLE)
    UserIdentity.objects.filter(pk=identity.pk).update(
        last_success_at=timezone.now() - timedelta(seconds=10), error_kind="unavailable"
    )
    client.force_login(staff_granted)
    html = client.get("/").content.decode()
    assert "as of" not in html and not title(html).startswith("Stale")


def test_an_identity_not_refreshed_for_too_long_is_stale_even_without_an_error(client, staff_granted, identity):
    make_file(identity, FileStatus.AVAILABLE)
    # Its refresh was due 20 minutes ago: the engine's own schedule says it is overdue.
    UserIdentity.objects.filter(pk=identity.pk).update(
        last_success_at=timezone.now() - timedelta(minutes=40), next_refresh_at=timezone.now() - timedelta(minutes=20)
    )
    client.force_login(staff_granted)
    html = client.get("/").content.decode()
    assert "as of <time" in html and title(html).startswith("Stale · ")
