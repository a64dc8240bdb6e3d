"""The Recent Files page, as a whole page and as the fragment the filters and pager swap in."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.factories import make_export, make_file
from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.web import time_signature
from webadmit_dash.web.pagination import PAGE_SIZE
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

HTMX_RESULTS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}


def row_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="file-(\d+)"', response.content.decode())]


def test_it_requires_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_a_signed_out_htmx_request_sends_the_whole_tab_to_sign_in(client):
    response = client.get("/?status=failed", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/?q=x")
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/%3Fq%3Dx"


def test_the_page_lists_files_of_every_visible_identity(client, admin_user, identity, other_identity):
    mine, theirs = make_file(identity), make_file(other_identity, FileStatus.FAILED)
    client.force_login(admin_user)
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith("<!doctype html>")
    assert set(row_ids(response)) == {mine.pk, theirs.pk}
    assert "SOPHAS · School of Public Health" in html and "PharmCAS · College of Pharmacy" in html
    assert "Nightly Banner Export" in html and "Comma-Separated Values" in html
    assert str(mine.webadmit_id) in html
    assert response["Vary"].count("HX-Request") == 1


def test_staff_see_only_their_identities_files(client, staff_granted, identity, other_identity):
    mine, theirs = make_file(identity), make_file(other_identity)
    client.force_login(staff_granted)
    response = client.get("/")
    assert row_ids(response) == [mine.pk]
    assert "PharmCAS" not in response.content.decode()
    assert theirs.webadmit_id not in [int(n) for n in re.findall(r"\d{6}", response.content.decode())]


def test_guessing_another_identity_in_the_filter_lists_nothing(client, staff_granted, identity, other_identity):
    make_file(identity)
    make_file(other_identity)
    client.force_login(staff_granted)
    response = client.get(f"/?identity={other_identity.pk}")
    assert row_ids(response) == []
    assert "No files match these filters" in response.content.decode()
    assert row_ids(client.get("/?cycle=1999 - 2000")) == []


def test_the_htmx_fragment_holds_the_results_counts_poller_and_title(client, admin_user, identity):
    failed = make_file(identity, FileStatus.FAILED)
    make_file(identity, FileStatus.QUEUED)
    client.force_login(admin_user)
    response = client.get("/?status=failed&identity=&q=", **HTMX_RESULTS)
    html = response.content.decode()
    assert not html.lstrip().startswith("<!doctype")
    assert '<section id="results"' in html
    assert row_ids(response) == [failed.pk]
    assert '<span class="chip__count" id="count-queued"  hx-swap-oob="true">1</span>' in html
    assert 'id="poller"' in html and 'hx-swap-oob="true"' in html
    assert "<title>1 running · 1 failed · Recent Files</title>" in html
    # The address bar gets the short, shareable form of the filters.
    assert response["HX-Push-Url"] == "/?status=failed"


def test_other_htmx_requests_and_history_restores_get_the_whole_page(client, admin_user, identity):
    make_file(identity)
    client.force_login(admin_user)
    restore = client.get("/", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert restore.content.decode().startswith("<!doctype html>")
    boosted = client.get("/", HTTP_HX_REQUEST="true")
    assert boosted.content.decode().startswith("<!doctype html>")


def test_failed_and_unfinished_come_first_then_newest(client, admin_user, identity):
    now = timezone.now()
    old_failed = make_file(identity, FileStatus.FAILED, first_seen_at=now - timedelta(days=3))
    new_available = make_file(identity, FileStatus.AVAILABLE, first_seen_at=now - timedelta(minutes=1))
    old_available = make_file(identity, FileStatus.AVAILABLE, first_seen_at=now - timedelta(days=1))
    queued = make_file(identity, FileStatus.QUEUED, first_seen_at=now - timedelta(hours=2))
    unknown = make_file(identity, FileStatus.UNKNOWN, first_seen_at=now - timedelta(hours=1))
    client.force_login(admin_user)
    assert row_ids(client.get("/")) == [unknown.pk, queued.pk, old_failed.pk, new_available.pk, old_available.pk]


def test_the_summary_counts_every_status_and_the_title_says_what_needs_attention(client, admin_user, identity):
    for status in [FileStatus.QUEUED, FileStatus.IN_PROGRESS, FileStatus.FAILED, FileStatus.AVAILABLE]:
        make_file(identity, status)
    make_file(identity, FileStatus.AVAILABLE)
    client.force_login(admin_user)
    html = client.get("/?status=available").content.decode()
    assert "<title>2 running · 1 failed · Recent Files</title>" in html
    counts = dict(re.findall(r'id="count-([a-z_]+)"[^>]*>(\d+)<', html))
    assert counts == {
        "all": "5",
        "running": "2",  # every unfinished run, counted in its status's chip too
        "initializing": "0",
        "queued": "1",
        "in_progress": "1",
        "available": "2",
        "success_with_errors": "0",
        "empty_list": "0",
        "failed": "1",
        "unknown": "0",
        "handled": "0",
        "delivery_failed": "0",
    }
    # The counts double as filters: the chosen statuses stay checked.
    assert re.search(r'value="available"\s+checked', html)


def test_filters_combine_and_live_in_the_url(client, admin_user, identity, other_identity):
    banner = make_export(identity, 1, "Nightly Banner Export")
    roster = make_export(identity, 2, "Weekly Interview Roster")
    a = make_file(identity, FileStatus.FAILED, export=banner, webadmit_id=267520)
    b = make_file(identity, FileStatus.QUEUED, export=roster)
    c = make_file(identity, FileStatus.AVAILABLE, export=roster)
    d = make_file(other_identity, FileStatus.QUEUED)
    client.force_login(admin_user)
    assert set(row_ids(client.get("/?status=failed&status=queued"))) == {a.pk, b.pk, d.pk}
    assert set(row_ids(client.get(f"/?identity={identity.pk}&status=queued"))) == {b.pk}
    assert set(row_ids(client.get("/?association=PharmCAS"))) == {d.pk}
    assert set(row_ids(client.get("/?cycle=2026 - 2027&q=roster"))) == {b.pk, c.pk}
    assert set(row_ids(client.get("/?q=267520"))) == {a.pk}
    assert set(row_ids(client.get("/?status=bogus&status=failed"))) == {a.pk}


def test_expired_files_are_hidden_unless_asked_for(client, admin_user, identity):
    current, gone = make_file(identity), make_file(identity, gone=True)
    client.force_login(admin_user)
    assert row_ids(client.get("/")) == [current.pk]
    response = client.get("/?expired=1")
    assert set(row_ids(response)) == {current.pk, gone.pk}
    assert "no longer on WebAdMIT" in response.content.decode()


def test_each_status_has_a_badge_with_words_and_an_icon(client, admin_user, identity):
    for status in FileStatus:
        make_file(identity, status)
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    for label, icon in [
        ("Initializing", "i-dots"),
        ("Queued", "i-clock"),
        ("In Progress", "i-spinner"),
        ("Available", "i-check"),
        ("Success With Errors", "i-check-warn"),
        ("Empty List", "i-empty"),
        ("Failed", "i-cross"),
        ("Archived", "i-question"),  # an unknown status shows WebAdMIT's own words
    ]:
        assert re.search(rf'<use href="#{icon}"></use></svg><span class="badge__text">{label}</span>', html), label
    assert html.count("badge--running") == 3


def test_actions_depend_on_the_status(client, admin_user, identity):
    available = make_file(identity, FileStatus.AVAILABLE)
    with_errors = make_file(identity, FileStatus.SUCCESS_WITH_ERRORS)
    empty = make_file(identity, FileStatus.EMPTY_LIST)
    failed = make_file(identity, FileStatus.FAILED)
    queued = make_file(identity, FileStatus.QUEUED)
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    # Download passes the list's address along, so a refused download's page leads back to the same list.
    assert f'href="/files/{available.pk}/download/?next=%2F"' in html
    assert f'href="/files/{with_errors.pk}/download/?next=%2F"' in html
    for not_downloadable in (empty, failed, queued):
        assert f"/files/{not_downloadable.pk}/download/" not in html
    assert "Nothing to download" in html and "The run failed" in html and "Being generated" in html
    # Run again asks first (the form leads to its confirmation page), for finished files only.
    assert re.search(rf'<form method="get" action="/files/{failed.pk}/run-again/"[^>]*data-run-again', html)
    assert f"/files/{queued.pk}/run-again/" not in html
    # Failures can be acknowledged: a POST form with a CSRF token.
    assert f'hx-post="/files/{failed.pk}/acknowledge/"' in html
    assert f"/files/{available.pk}/acknowledge/" not in html
    assert html.count('name="csrfmiddlewaretoken"') >= 2
    assert 'hx-headers=\'{"X-CSRFToken": "' in html


def test_times_are_relative_with_the_zone_named_on_hover(client, admin_user, identity, settings):
    settings.TIME_ZONE = "America/New_York"
    seen = timezone.now() - timedelta(minutes=12)
    export_file = make_file(identity, FileStatus.QUEUED, first_seen_at=seen)
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    local = seen.astimezone(ZoneInfo("America/New_York"))
    assert f'title="{local:%a} {local.day} {local:%b %Y, %H:%M:%S} {local:%Z} (America/New_York)">12 min ago' in html
    assert re.search(rf'id="file-{export_file.pk}".*?for <time [^>]*data-rel="for"[^>]*>12 min</time>', html, re.S)


def test_a_users_time_zone_preference_applies(client, admin_user, identity):
    make_file(identity)
    client.force_login(admin_user)
    client.post("/preferences/", {"time_zone": "Asia/Tokyo"})
    html = client.get("/").content.decode()
    assert "JST (Asia/Tokyo)" in html
    assert "Times are shown in Asia/Tokyo" in html


def test_pages_continue_by_keyset_without_gaps_or_repeats(client, admin_user, identity):
    now = timezone.now()
    # Two ranks, and files sharing one timestamp, so the boundaries and the tie-breaks are both crossed.
    for n in range(PAGE_SIZE + 7):
        make_file(
            identity,
            FileStatus.QUEUED if n % 5 == 0 else FileStatus.AVAILABLE,
            first_seen_at=now - timedelta(minutes=n // 3),
        )
    for _ in range(PAGE_SIZE):
        make_file(identity, FileStatus.AVAILABLE, first_seen_at=now - timedelta(days=2))
    expected = list(
        ExportFile.objects.order_by("attention_rank", "-first_seen_at", "-webadmit_id", "-id").values_list(
            "pk", flat=True
        )
    )
    client.force_login(admin_user)
    seen, url, pages = [], "/", []
    while url:
        response = client.get(url)
        pages.append(response)
        seen += row_ids(response)
        found = re.search(r'rel="next" href="([^"]+)"', response.content.decode())
        url = "/" + found.group(1).replace("&amp;", "&") if found else None
    assert seen == expected
    assert len(pages) == 3
    assert "51\u2013100 of 107" in pages[1].content.decode()
    # ...and back again from the last page.
    previous = re.search(r'rel="prev" href="([^"]+)"', pages[2].content.decode()).group(1).replace("&amp;", "&")
    back = client.get("/" + previous)
    assert row_ids(back) == expected[PAGE_SIZE : 2 * PAGE_SIZE]
    assert "51\u2013100 of 107" in back.content.decode()


def test_the_first_page_costs_the_same_queries_for_few_or_many_files(client, admin_user, identity, other_identity):
    client.force_login(admin_user)
    make_file(identity)
    client.get("/")  # warm up: session, content types

    def first_page_queries() -> int:
        cache.clear()  # the worst case: no summary counts cached
        # ...but the time signature, which a process reads once per period whatever the pages (web/time_signature.py)
        time_signature.current(timezone.now())
        with CaptureQueriesContext(connection) as queries:
            client.get("/")
        return len(queries)

    few = first_page_queries()
    for n in range(2 * PAGE_SIZE):
        make_file(identity if n % 2 else other_identity, FileStatus.QUEUED if n % 7 == 0 else FileStatus.AVAILABLE)
    # 7, one more for the watchdog's open misses (schedules/state.py) and two for the rows' notes (web/row_notes.py),
    # whatever the number of files: a page load inside a visit touches nothing (web/visits.py).
    assert first_page_queries() == few <= 10


def test_the_freshness_strip_shows_when_each_identity_was_refreshed(client, admin_user, identity, other_identity):
    UserIdentity.objects.filter(pk=identity.pk).update(last_success_at=timezone.now() - timedelta(minutes=3))
    UserIdentity.objects.filter(pk=other_identity.pk).update(error_kind="unavailable", error_message="x")
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    assert re.search(r"Refreshed <time [^>]+>3 min ago</time>", html)
    assert "Last refresh failed (WebAdMIT unavailable)" in html
    assert f'hx-post="/identities/{identity.pk}/refresh/"' in html


def test_a_user_granted_nothing_is_told_what_to_do(client, staff_none):
    client.force_login(staff_none)
    html = client.get("/").content.decode()
    assert "You have not been given access to any WebAdMIT identity" in html
