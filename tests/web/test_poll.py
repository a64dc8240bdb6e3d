"""The page's live updates: nothing rendered when nothing changed, only the changes otherwise."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.factories import change_status, make_file
from webadmit_dash.core.models import EngineHeartbeat, UserIdentity
from webadmit_dash.web import time_signature
from webadmit_dash.web.common import SLOW_POLL_SECONDS
from webadmit_dash.web.pagination import PAGE_SIZE
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


def poll_url(html: str) -> str:
    """The poller's URL, as the page (or the last poll) left it."""
    return re.search(r'<div id="poller"[^>]*hx-get="([^"]+)"', html, re.S).group(1).replace("&amp;", "&")


def oob_row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="file-(\d+)"[^>]*hx-swap-oob="true"', html)]


@pytest.fixture
def page(client, staff_granted, identity):
    """A signed-in staff member's page with three files, and the poll URL it polls with."""
    files = [
        make_file(identity, status) for status in (FileStatus.QUEUED, FileStatus.IN_PROGRESS, FileStatus.AVAILABLE)
    ]
    client.force_login(staff_granted)
    html = client.get("/").content.decode()
    return {"files": files, "poll": poll_url(html), "html": html}


def test_the_page_polls_while_visible_fast_when_files_are_unfinished(page):
    poller = re.search(r'<div id="poller".*?></div>', page["html"], re.S).group(0)
    # app.js raises "poll" every data-poll-every seconds while the tab is visible, and at once when it shows again.
    assert 'hx-trigger="poll, files-changed from:body"' in poller and 'data-poll-every="3"' in poller
    assert 'hx-swap="none"' in poller


def test_the_page_polls_slowly_when_everything_is_settled(client, staff_granted, identity):
    make_file(identity, FileStatus.AVAILABLE)
    client.force_login(staff_granted)
    assert f'data-poll-every="{SLOW_POLL_SECONDS}"' in client.get("/").content.decode()


def test_an_unchanged_poll_answers_204_without_rendering_in_four_queries_then_one(client, page):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page["poll"], **HTMX)
    assert response.status_code == 204
    assert response.content == b""
    assert response.templates == []  # nothing was rendered
    # The session and the user (Django's own sign-in), the change counter, then the version of what the user may see.
    assert len(queries) <= 4, [q["sql"] for q in queries.captured_queries]
    # The next ones are answered before the request path (web/poll_gate.py): the change counter only.
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page["poll"], **HTMX)
    assert response.status_code == 204
    assert [q["sql"] for q in queries.captured_queries] == ['SELECT value FROM "dashboard_changecounter" WHERE id = 1']


def test_a_poll_returns_only_the_changed_rows_out_of_band(client, page, identity):
    queued, running, available = page["files"]
    change_status(queued, FileStatus.AVAILABLE)
    response = client.get(page["poll"], **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert oob_row_ids(html) == [queued.pk]
    assert f"file-{running.pk}" not in html and f"file-{available.pk}" not in html
    assert '<span class="chip__count" id="count-available"  hx-swap-oob="true">2</span>' in html
    assert "<title>1 running · Recent Files</title>" in html
    # Screen readers hear what changed.
    assert re.search(
        rf'<div id="announcer" hx-swap-oob="innerHTML">Nightly Banner Export, file {queued.webadmit_id}: Available\.',
        html,
    )
    # The next poll carries the new version, and answers 204 again.
    assert client.get(poll_url(html), **HTMX).status_code == 204


def test_a_poll_with_htmx_renders_fragments_only(client, page):
    change_status(page["files"][0], FileStatus.FAILED)
    html = client.get(page["poll"], **HTMX).content.decode()
    assert "<html" not in html and "<body" not in html
    assert 'id="sources"' in html and 'id="banner"' in html and 'id="notice"' in html


def test_a_poll_without_htmx_goes_to_the_page(client, staff_granted, identity):
    make_file(identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    poll = poll_url(client.get("/?status=failed").content.decode())
    response = client.get(poll)
    assert response.status_code == 302
    assert response["Location"] == "/?status=failed"


def test_an_unchanged_list_answers_204_across_minute_boundaries(client, page):
    """Relative times age in the browser (static/js/app.js): the minute turning is no reason to render, so open
    tabs never all re-render at the same moment (issue 24's herd)."""
    now = timezone.now()
    with time_machine.travel(now.replace(second=59, microsecond=0), tick=True):
        html = client.get("/").content.decode()
        assert client.get(poll_url(html), **HTMX).status_code == 204
    for later in (timedelta(seconds=2), timedelta(minutes=1, seconds=1), timedelta(minutes=17)):
        with time_machine.travel(now.replace(second=59, microsecond=0) + later, tick=True):
            assert client.get(poll_url(html), **HTMX).status_code == 204, later


def test_a_poll_re_renders_when_time_alone_changes_what_the_page_says(client, page, identity):
    """The worker stops checking in: no row changed, but the banner now has something to say. The time signature
    (web/time_signature.py) notices within its period, and the poll answers with the banner, not the rows."""
    EngineHeartbeat.objects.update_or_create(name=EngineHeartbeat.DISPATCHER, defaults={"beat_at": timezone.now()})
    html = client.get("/").content.decode()
    assert client.get(poll_url(html), **HTMX).status_code == 204

    later = timezone.now() + timedelta(seconds=settings.BEAT_LATE_AFTER + time_signature.SIGNATURE_SECONDS + 1)
    with time_machine.travel(later, tick=True):
        response = client.get(poll_url(html), **HTMX)
    assert response.status_code == 200
    update = response.content.decode()
    assert "Refreshes are late" in update
    assert oob_row_ids(update) == []
    # The banner's "last checked in 1 min ago" is a relative time the browser ages: it is not re-rendered for that.
    assert re.search(r'last checked in <time datetime="[^"]+" data-rel="ago"', update)
    with time_machine.travel(later + timedelta(minutes=3), tick=True):
        assert client.get(poll_url(update), **HTMX).status_code == 204


def test_new_files_get_a_notice_instead_of_moving_rows(client, page, identity):
    new = make_file(identity, FileStatus.QUEUED)
    html = client.get(page["poll"], **HTMX).content.decode()
    assert f"file-{new.pk}" not in html
    assert "1 new file since this list was loaded." in html
    assert "Show new files" in html


def test_files_elsewhere_in_the_list_do_not_raise_the_notice(client, staff_granted, identity):
    files = [make_file(identity, FileStatus.AVAILABLE) for _ in range(PAGE_SIZE + 2)]
    client.force_login(staff_granted)
    poll = poll_url(client.get("/").content.decode())
    change_status(files[0], FileStatus.AVAILABLE)  # the oldest: on page two
    html = client.get(poll, **HTMX).content.decode()
    assert "new file" not in html


def test_a_poll_never_shows_another_identitys_files(client, page, other_identity):
    theirs = make_file(other_identity, FileStatus.QUEUED)
    # A change elsewhere is not a change for this user.
    assert client.get(page["poll"], **HTMX).status_code == 204
    # Even with the other file's id slipped into the poll, and a version that forces a render.
    forged = page["poll"].replace("ids=", f"ids={theirs.pk},").replace("since=", "since=0&x=")
    forged = re.sub(r"since=\d+", "since=0", forged)
    change_status(theirs, FileStatus.FAILED)
    html = client.get(forged, **HTMX).content.decode()
    assert f"file-{theirs.pk}" not in html
    assert "PharmCAS" not in html


def test_a_signed_out_poll_sends_the_tab_to_sign_in(client, page):
    client.logout()
    response = client.get(page["poll"], **HTMX)
    assert response["HX-Redirect"] == "/accounts/login/?next=/"


def test_a_poll_from_a_session_ended_by_a_password_change_is_not_answered(client, page, staff_granted):
    staff_granted.set_password("something else entirely")
    staff_granted.save()
    response = client.get(page["poll"], **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_an_identity_error_shows_in_the_banner_on_the_next_poll(client, page, identity):
    UserIdentity.objects.filter(pk=identity.pk).update(
        error_kind="key_rejected", paused=True, change_seq=identity.change_seq + 100
    )
    html = client.get(page["poll"], **HTMX).content.decode()
    assert "WebAdMIT rejected the API key “Nursing”" in html
    assert "WebAdMIT is asked again in a moment" in html
    assert "an administrator enters the new one" in html


def test_the_poll_url_keeps_the_pages_filters(client, staff_granted, identity):
    make_file(identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    html = client.get("/?status=failed&q=banner").content.decode()
    params = parse_qs(urlsplit(poll_url(html)).query)
    assert params["status"] == ["failed"] and params["q"] == ["banner"]
    assert params["top"] == ["1"]
