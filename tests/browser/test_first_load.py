"""A page opened before the first refresh fills in by itself: the real worker and beat refresh the simulated
WebAdMIT's identities for the first time while the page is open, and the rows appear in place, without a reload
and without a "new files" notice. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import screenshot, sign_in
from tests.support.stack import Stack, installed_stack
from webadmit_dash.core.models import ExportFile
from webadmit_dash.simulator.data import SimulatedWorld

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def stack(live_server, world: SimulatedWorld) -> Iterator[Stack]:
    """A fresh installation: a credential and its identities imported, nothing refreshed yet, no worker."""
    with installed_stack(live_server.url, world, refreshed=False) as stack:
        yield stack


def test_a_page_opened_before_the_first_refresh_fills_in_by_itself(stack, page, request):
    assert not ExportFile.objects.exists()
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    assert page.locator(".empty__title").inner_text() == "No files yet"
    page.evaluate("window.__noReload = true")
    screenshot(page, "first-load-empty", full_page=False)

    request.getfixturevalue("engine")  # the worker and beat start now, and refresh every identity

    page.locator("#results tbody tr").first.wait_for(timeout=60_000)
    assert page.evaluate("window.__noReload === true"), "filled in place, not by a reload"
    assert "listed." in page.locator("#announcer").inner_text(), "and screen readers are told"
    assert page.locator(".empty").count() == 0
    # Identities refreshed after the list was filled bring files of their own: those are news, offered in the
    # notice as always (rows never move under the pointer once there are rows). Between them, every file shows.
    expected = min(sum(len(stack.world.files(identity.webadmit_id)) for identity in stack.identities), 50)
    page.wait_for_function(
        """expected => {
          const rows = document.querySelectorAll('#results tbody tr').length;
          const notice = document.querySelector('#notice .notice');
          const waiting = notice ? Number(notice.textContent.match(/\\d+/)[0]) : 0;
          return rows + waiting >= expected;
        }""",
        arg=expected,
        timeout=60_000,
    )
    screenshot(page, "first-load-filled", full_page=False)
