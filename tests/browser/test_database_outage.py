"""The Recent Files page through a database outage: its poller keeps polling, more and more slowly, with a notice
in words, and when the database is back the notice goes and the page is live again, without a reload.

A PostgreSQL of the test's own under the production gunicorn (see tests/ops/test_outage.py), and Chromium.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from tests.support.browser import screenshot, sign_in
from tests.support.postgres import OwnPostgres, manage, migrated_postgres
from tests.support.webserver import GunicornServer

pytestmark = [pytest.mark.browser, pytest.mark.services]

USER, PASSWORD = "riley", "correct horse battery staple"
WORDS = "The database is not answering; this page will retry."


@pytest.fixture
def postgres() -> Iterator[OwnPostgres]:
    with migrated_postgres() as server:
        manage(server.url, "shell", "-c", f"from django.contrib.auth.models import User; "
               f"User.objects.create_superuser({USER!r}, 'riley@example.edu', {PASSWORD!r})")  # fmt: skip
        yield server


def test_the_poller_slows_down_with_a_notice_while_the_database_is_down_and_recovers_by_itself(page, postgres):
    polls: list[float] = []
    page.on("request", lambda request: polls.append(time.monotonic()) if "/files/poll/" in request.url else None)
    with GunicornServer(workers=1, env={"DATABASE_URL": postgres.url}) as server:
        sign_in(page, server.url, USER, PASSWORD)
        notice = page.locator("#messages [data-outage]")
        with page.expect_response(lambda response: "/files/poll/" in response.url and response.ok, timeout=10_000):
            pass  # one poll answered while all is well

        postgres.stop()
        notice.wait_for(timeout=10_000)
        assert notice.inner_text() == WORDS
        elsewhere = page.context.new_page()
        elsewhere.goto(f"{server.url}/identities/")
        assert WORDS in elsewhere.locator("main").inner_text()
        screenshot(elsewhere, "database outage page")
        elsewhere.close()
        first_failed = len(polls) - 1
        while len(polls) < first_failed + 2:  # the next failed poll, 6 s later
            page.wait_for_timeout(200)
        screenshot(page, "database outage notice", full_page=False)

        postgres.start()
        notice.wait_for(state="detached", timeout=30_000)
        recovered = len(polls)
        page.wait_for_timeout(3_500)

    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    assert first_failed >= 1 and 2.5 < gaps[first_failed - 1] < 4, f"every 3 s while all is well: {gaps}"
    # Slower and slower: 6 s after the first failed poll, 12 s after the second (then the database answered).
    assert 5.5 < gaps[first_failed] < 7.5 and 11 < gaps[first_failed + 1] < 14, f"{gaps}"
    assert len(polls) > recovered, "back to polling every 3 s"
    assert page.get_by_role("heading", name="Recent Files").is_visible()
