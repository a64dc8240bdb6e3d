"""The Identities page: a whole page, and the table that re-fetches itself while the tab is visible."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import TEST_API_KEY
from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.web.common import FAST_POLL_SECONDS, SLOW_POLL_SECONDS

pytestmark = pytest.mark.django_db

TABLE_REFETCH = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "identity-table"}


def row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="identity-(\d+)"', html)]


def poll_interval(html: str) -> int:
    """The seconds between the table's re-fetches, as its data-poll-every tells static/js/app.js."""
    return int(re.search(r'<div id="identity-table"[^>]*data-poll-every="(\d+)"', html, re.DOTALL).group(1))


# --- The page and the fragment ----------------------------------------------------------------------------------


def test_the_page_is_whole_with_or_without_htmx(client, admin_user, identity, other_identity):
    client.force_login(admin_user)
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):  # a plain visit, and htmx aimed elsewhere (a boosted link)
        html = client.get("/identities/", **headers).content.decode()
        assert html.startswith("<!doctype html>"), headers
        assert '<div id="banner"' in html and "<h1>Identities</h1>" in html
        assert '<div id="identity-table"' in html
        assert set(row_ids(html)) == {identity.pk, other_identity.pk}


def test_the_table_refetches_itself_only_while_the_tab_is_visible(client, admin_user, identity):
    client.force_login(admin_user)
    html = client.get("/identities/").content.decode()
    table = re.search(r'<div id="identity-table"[^>]*>', html, re.DOTALL).group(0)
    assert 'hx-get="/identities/"' in table and 'hx-swap="outerHTML"' in table
    # app.js raises "poll" every data-poll-every seconds while the tab is visible, and at once when it shows again.
    trigger = re.search(r'hx-trigger="([^"]+)"', table).group(1)
    assert trigger == "poll, identities-changed from:body"
    assert re.search(r'data-poll-every="\d+"', table)


def test_the_fragment_is_the_table_and_the_banner_out_of_band(client, admin_user, identity, other_identity):
    client.force_login(admin_user)
    response = client.get("/identities/", **TABLE_REFETCH)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="identity-table"')
    assert html.rstrip().endswith("</div>")
    assert "<!doctype" not in html and '<header class="topbar"' not in html
    assert re.search(r'<div id="banner" class="banners"\s+hx-swap-oob="true">', html)
    assert "hx-swap-oob" not in html.split('<div id="banner"')[0], "only the banner is out of band"
    assert set(row_ids(html)) == {identity.pk, other_identity.pk}
    # Refresh now still works without JavaScript from a re-fetched table: a plain POST that comes back here.
    assert f'action="/identities/{identity.pk}/refresh/"' in html
    assert '<input type="hidden" name="next" value="/identities/">' in html
    assert response["Vary"].count("HX-Request") == 1


def test_a_key_rejected_since_the_page_loaded_shows_its_banner_on_the_next_refetch(
    client, admin_user, identity, credential
):
    client.force_login(admin_user)
    assert "rejected" not in client.get("/identities/", **TABLE_REFETCH).content.decode()
    Credential.objects.filter(pk=credential.pk).update(health=Credential.Health.KEY_REJECTED)
    UserIdentity.objects.filter(pk=identity.pk).update(
        paused=True, error_kind="key_rejected", error_message="WebAdMIT rejected the API key"
    )

    html = client.get("/identities/", **TABLE_REFETCH).content.decode()

    banner = html.split('<div id="banner"')[1]
    assert "hx-swap-oob" in banner.split(">")[0]
    assert "rejected" in banner.lower()


def test_a_history_restore_gets_the_whole_page(client, admin_user, identity):
    client.force_login(admin_user)
    html = client.get("/identities/", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **TABLE_REFETCH).content.decode()
    assert html.startswith("<!doctype html>")


def test_links_and_buttons_keep_their_ids_so_htmx_can_give_focus_back(client, admin_user, identity):
    client.force_login(admin_user)
    page = client.get("/identities/").content.decode()
    fragment = client.get("/identities/", **TABLE_REFETCH).content.decode()
    for html in (page, fragment):
        assert f'id="identity-refresh-{identity.pk}"' in html
        assert f'id="identity-link-{identity.pk}"' in html
        # Recent Files' strip uses refresh-<pk>: ids stay unique should both ever share a page.
        assert f'id="refresh-{identity.pk}"' not in html


def test_a_signed_out_refetch_sends_the_whole_tab_to_sign_in(client):
    response = client.get("/identities/", HTTP_HX_CURRENT_URL="http://testserver/identities/", **TABLE_REFETCH)
    assert response["HX-Redirect"] == "/accounts/login/?next=/identities/"


# --- How often it re-fetches -------------------------------------------------------------------------------------


def test_it_refetches_slowly_while_nothing_is_being_refreshed(client, admin_user, identity, other_identity):
    UserIdentity.objects.filter(pk=identity.pk).update(last_success_at=timezone.now() - timedelta(minutes=3))
    # A lease that ran out (a worker lost mid-refresh) is not a refresh under way.
    UserIdentity.objects.filter(pk=other_identity.pk).update(refreshing_until=timezone.now() - timedelta(seconds=1))
    client.force_login(admin_user)
    assert poll_interval(client.get("/identities/").content.decode()) == SLOW_POLL_SECONDS
    assert poll_interval(client.get("/identities/", **TABLE_REFETCH).content.decode()) == SLOW_POLL_SECONDS


@pytest.mark.parametrize(
    "busy",
    [
        # Times taken when the test runs, not when it is collected: a long run would find them in the past.
        pytest.param(lambda: {"refresh_queued_at": timezone.now()}, id="queued"),
        pytest.param(lambda: {"refreshing_until": timezone.now() + timedelta(minutes=1)}, id="refreshing"),
    ],
)
def test_it_refetches_fast_while_an_identity_is_being_refreshed(client, admin_user, identity, other_identity, busy):
    UserIdentity.objects.filter(pk=identity.pk).update(**busy())
    client.force_login(admin_user)
    for headers in ({}, TABLE_REFETCH):
        html = client.get("/identities/", **headers).content.decode()
        assert poll_interval(html) == FAST_POLL_SECONDS
        assert html.count("· refreshing…") == 1


def test_only_identities_shown_count_towards_the_fast_pace(client, staff_granted, identity, other_identity):
    UserIdentity.objects.filter(pk=other_identity.pk).update(refresh_queued_at=timezone.now())
    client.force_login(staff_granted)
    assert poll_interval(client.get("/identities/", **TABLE_REFETCH).content.decode()) == SLOW_POLL_SECONDS


# --- Refresh now -------------------------------------------------------------------------------------------------


def test_refresh_now_by_htmx_asks_the_table_to_refetch_at_once(client, staff_granted, identity):
    client.force_login(staff_granted)
    response = client.post(
        f"/identities/{identity.pk}/refresh/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/identities/",
    )
    assert response.status_code == 200
    # Raised on <body>: the form that asked may have been swapped out by a re-fetch in the meantime.
    assert json.loads(response["HX-Trigger"]) == {"identities-changed": {"target": "body"}}
    # The re-fetch then shows the refresh under way, and keeps checking at the fast pace.
    html = client.get("/identities/", **TABLE_REFETCH).content.decode()
    assert "· refreshing…" in html
    assert poll_interval(html) == FAST_POLL_SECONDS


def test_refresh_now_without_javascript_goes_back_to_the_identities_page(client, staff_granted, identity):
    client.force_login(staff_granted)
    response = client.post(f"/identities/{identity.pk}/refresh/", {"next": "/identities/"})
    assert response.status_code == 302
    assert response["Location"] == "/identities/"
    assert "HX-Trigger" not in response
    html = client.get("/identities/").content.decode()
    assert "Refreshing SOPHAS · School of Public Health · 2026 - 2027" in html and "· refreshing…" in html


# --- Who sees what ------------------------------------------------------------------------------------------------


def test_the_fragment_lists_only_identities_granted_to_the_user(
    client, staff_granted, staff_via_group, identity, other_identity
):
    client.force_login(staff_granted)
    html = client.get("/identities/", **TABLE_REFETCH).content.decode()
    assert row_ids(html) == [identity.pk]
    assert "PharmCAS" not in html and f"/identities/{other_identity.pk}/refresh/" not in html

    client.force_login(staff_via_group)
    html = client.get("/identities/", **TABLE_REFETCH).content.decode()
    assert row_ids(html) == [other_identity.pk]
    assert "SOPHAS" not in html


def test_a_user_granted_nothing_gets_the_empty_state_in_the_fragment(client, staff_none, identity):
    client.force_login(staff_none)
    html = client.get("/identities/", **TABLE_REFETCH).content.decode()
    assert html.lstrip().startswith('<div id="identity-table"')
    assert row_ids(html) == []
    assert "No identities yet" in html
    # Still re-fetches (slowly), so a grant made meanwhile shows up without a reload.
    assert poll_interval(html) == SLOW_POLL_SECONDS


# --- Cost ---------------------------------------------------------------------------------------------------------


def test_the_fragment_costs_the_same_queries_for_few_or_many_identities(client, admin_user, identity, credential):
    client.force_login(admin_user)
    client.get("/identities/", **TABLE_REFETCH)  # warm up: session, content types

    def fragment_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/identities/", **TABLE_REFETCH)
        assert response.status_code == 200
        return len(queries)

    few = fragment_queries()
    second_key = Credential(name="Second key", base_url="https://api.webadmit.org")
    second_key.set_api_key(TEST_API_KEY)
    second_key.save()
    now = timezone.now()
    for n in range(30):
        UserIdentity.objects.create(
            credential=credential if n % 2 else second_key,
            webadmit_id=90_000 + n,
            type="Admissions User",
            association="NursingCAS",
            organization=f"School {n}",
            cycle="2026 - 2027",
            last_success_at=now - timedelta(minutes=n),
            refresh_queued_at=now if n % 5 == 0 else None,
            error_kind="unavailable" if n % 7 == 0 else "",
            error_message="WebAdMIT did not answer" if n % 7 == 0 else "",
        )
    assert len(row_ids(client.get("/identities/", **TABLE_REFETCH).content.decode())) == 31
    assert fragment_queries() == few <= 6, few
