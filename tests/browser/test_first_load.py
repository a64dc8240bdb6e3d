"""A page opened before the first refresh fills in by itself: the real worker and beat refresh the simulated
WebAdMIT's identities for the first time while the page is open, and the rows appear in place, without a reload
and without a "new files" notice. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import PASSWORD, Stack
from tests.support.browser import screenshot, sign_in
from webadmit_dash.core.models import Credential, ExportFile, UserIdentity
from webadmit_dash.engine import credentials
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer

pytestmark = [pytest.mark.browser, pytest.mark.worker]

SIMULATOR_KEY = "7c3e1a9b5d2f4e6a8b0c1d2e3f4a5b6c"


@pytest.fixture
def stack(live_server, world: SimulatedWorld) -> Iterator[Stack]:
    """A fresh installation: a credential and its identities imported, nothing refreshed yet, no worker."""
    with SimulatorServer(world, api_keys=[SIMULATOR_KEY]) as simulator:
        credential = Credential(name="Admissions office", base_url=simulator.base_url)
        credential.set_api_key(SIMULATOR_KEY)
        credential.save()
        credentials.import_identities(credential)
        identities = list(UserIdentity.objects.filter(credential=credential).order_by("pk"))
        user = User.objects.create_superuser("morgan", "morgan@example.edu", PASSWORD)
        yield Stack(live_server.url, simulator, world, credential, identities, user)


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
