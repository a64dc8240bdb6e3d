"""The unchanged poll answered before the request path (web/poll_gate.py): only for a session the full path vouched
for, only while the change counter has not moved, never stale, and forgotten at sign-out."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.support.factories import change_status, make_file
from webadmit_dash.core.models import ChangeCounter
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


def _poll_url(html: str) -> str:
    return re.search(r'<div id="poller"[^>]*hx-get="([^"]+)"', html, re.S).group(1).replace("&amp;", "&")


@pytest.fixture
def polling(client, staff_granted, identity):
    """A signed-in page whose first unchanged poll went the full path (so the gate knows this session)."""
    files = [make_file(identity, FileStatus.QUEUED), make_file(identity, FileStatus.AVAILABLE)]
    client.force_login(staff_granted)
    poll = _poll_url(client.get("/").content.decode())
    assert client.get(poll, **HTMX).status_code == 204
    return {"poll": poll, "files": files}


def _gated(client: Client, poll: str) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(poll, **HTMX).status_code
    return status, [q["sql"] for q in queries.captured_queries]


def test_the_gate_answers_with_the_counter_alone_and_the_full_path_headers(client, polling):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(polling["poll"], **HTMX)
    assert response.status_code == 204
    assert len(queries) == 1
    assert "no-store" in response["Cache-Control"]
    assert "HX-Request" in response["Vary"]


def test_a_change_is_never_answered_204(client, polling):
    change_status(polling["files"][0], FileStatus.IN_PROGRESS)
    status, queries = _gated(client, polling["poll"])
    assert status == 200
    assert len(queries) > 1  # the full path answered


def test_a_change_elsewhere_moves_the_counter_and_the_full_path_answers_204_then_the_gate_again(
    client, polling, other_identity
):
    make_file(other_identity, FileStatus.QUEUED)  # not this user's
    status, queries = _gated(client, polling["poll"])
    assert status == 204 and len(queries) > 1
    status, queries = _gated(client, polling["poll"])
    assert status == 204 and len(queries) == 1


def test_a_session_the_full_path_never_vouched_for_goes_the_full_path(client, polling, staff_none):
    stranger = Client()
    stranger.cookies["sessionid"] = "not-a-session-anyone-signed-in"
    response = stranger.get(polling["poll"], **HTMX)
    assert response.status_code != 204  # Django's own sign-in refused it

    other = Client()
    other.force_login(staff_none)
    with CaptureQueriesContext(connection) as queries:
        other.get(polling["poll"], **HTMX)
    assert len(queries) > 1  # another user's session is not this one's


def test_signing_out_is_forgotten_at_once(client, polling):
    client.post("/accounts/logout/")
    response = client.get(polling["poll"], **HTMX)
    assert response.status_code != 204


def test_the_counter_reads_the_last_value_taken():
    assert ChangeCounter.current() == 0
    taken = ChangeCounter.next_value()
    assert ChangeCounter.current() == taken
