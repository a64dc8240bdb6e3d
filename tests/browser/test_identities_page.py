"""The Identities page in Chromium, against the live server, a real Celery worker and the simulated WebAdMIT.

The test saves screenshots under tests/artifacts/.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.browser import PHONE, screenshot, sign_in
from tests.support.worker import celery_worker_process  # noqa: F401 - the worker fixture, re-exported
from webadmit_dash.core.models import UserIdentity

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_refresh_now_updates_the_row_without_a_reload(stack, celery_worker_process, page):  # noqa: F811
    # A worker without beat: only Refresh now refreshes anything, so every change on screen comes from the click.
    identity, neighbour = stack.identities[0], stack.identities[1]
    UserIdentity.objects.filter(pk=identity.pk).update(last_success_at=timezone.now() - timedelta(hours=3))
    # WebAdMIT answers the refresh's first call after 2 s, so "refreshing…" is on screen long enough to be seen.
    stack.control("POST", "faults", kind="slow", identity_id=identity.webadmit_id, times=1, seconds=2)
    refetches: list[str] = []
    page.on("request", lambda r: r.headers.get("hx-target") == "identity-table" and refetches.append(r.url))

    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/identities/")
    row = page.locator(f"#identity-{identity.pk}")
    last_refreshed, state = row.locator('td[data-label="Last refreshed"]'), row.locator('td[data-label="State"]')
    assert last_refreshed.inner_text().strip() == "3 h ago"
    assert state.inner_text().strip() == "Late"
    page.evaluate("window.__noReload = true")  # a full reload would wipe it

    # From the keyboard, as the Recent Files test does: focus the button and press Enter.
    page.locator(f"#identity-refresh-{identity.pk}").focus()
    page.keyboard.press("Enter")
    page.locator("#messages .message", has_text="Refreshing").wait_for()
    # The answer's HX-Trigger re-fetches the table at once (the slow pace would take 30 s).
    row.get_by_text("refreshing…").wait_for(timeout=5_000)
    screenshot(page, "identities-refreshing")
    # While busy the table re-fetches every 3 s, and shows the refresh once the worker has done it.
    state.get_by_text(re.compile(r"^Up to date$")).wait_for(timeout=15_000)
    assert last_refreshed.inner_text().strip() == "just now"
    # The table was swapped under the pressed button; keyboard focus is on its replacement, not lost to <body>.
    assert page.evaluate("document.activeElement.id") == f"identity-refresh-{identity.pk}"
    assert "refreshing…" not in state.inner_text()
    assert page.evaluate("window.__noReload === true")
    assert refetches and all(url == f"{stack.base_url}/identities/" for url in refetches)
    assert UserIdentity.objects.get(pk=identity.pk).last_success_at > timezone.now() - timedelta(minutes=1)
    screenshot(page, "identities-live")

    # A re-fetch swaps the whole table; keyboard focus stays on the same button (htmx restores it by its id).
    button_id = f"identity-refresh-{neighbour.pk}"
    page.locator(f"#{button_id}").focus()
    page.evaluate(f"document.getElementById('{button_id}').dataset.beforeSwap = 'yes'")
    page.evaluate("htmx.trigger(document.body, 'identities-changed')")
    page.wait_for_function(f"() => !document.getElementById('{button_id}').dataset.beforeSwap")  # a new button
    assert page.evaluate("document.activeElement.id") == button_id

    page.set_viewport_size(PHONE)
    screenshot(page, "identities-live-phone", full_page=False)
