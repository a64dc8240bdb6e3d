"""The page fits: at 1366 x 768 the files start high enough that eight rows show (six under a banner), and on a phone
no page scrolls sideways, in light or dark, and every status chip is in reach. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import pytest

from tests.support.browser import PHONE, screenshot, sign_in
from webadmit_dash.core.models import Credential, ExportFile, UserIdentity

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}

# Rows whose whole box is inside the viewport, as a person sees them without scrolling.
ROWS_IN_VIEW = """() => {
  const height = window.innerHeight;
  return [...document.querySelectorAll('#results tbody tr')].filter(row => {
    const box = row.getBoundingClientRect();
    return box.height > 0 && box.top >= 0 && box.bottom <= height;
  }).length;
}"""


def _rows_in_view(page) -> int:
    return page.evaluate(ROWS_IN_VIEW)


def test_at_1366_by_768_at_least_eight_rows_show_and_six_under_a_banner(stack, page):
    assert ExportFile.objects.count() >= 10
    page.set_viewport_size(LAPTOP)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.wait_for_selector("#results tbody tr")
    screenshot(page, "laptop-no-banner", full_page=False)
    assert _rows_in_view(page) >= 8, _rows_in_view(page)

    # A rejected key: the banner takes its room, and still six rows show.
    Credential.objects.update(health=Credential.Health.KEY_REJECTED)
    UserIdentity.objects.update(error_kind="key_rejected", error_message="WebAdMIT answered 401", paused=True)
    page.reload()
    assert page.locator("#banner .banner").count() == 1
    screenshot(page, "laptop-with-banner", full_page=False)
    assert _rows_in_view(page) >= 6, _rows_in_view(page)


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_on_a_phone_no_page_scrolls_sideways_and_every_chip_is_in_reach(stack, browser, color_scheme):
    context = browser.new_context(viewport=PHONE, locale="en-US", color_scheme=color_scheme)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        export_file = ExportFile.objects.filter(status="failed").first() or ExportFile.objects.first()
        signed_out = [("sign-in", "/accounts/login/")]
        signed_in = [
            ("recent-files", "/"),
            ("recent-files-filtered", "/?status=failed&status=superseded"),
            ("identities", "/identities/"),
            ("preferences", "/preferences/"),
            ("password", "/accounts/password/"),
            ("file", f"/files/{export_file.pk}/"),
            ("run-again", f"/files/{export_file.pk}/run-again/?next=/"),
            ("download-refused", f"/files/{export_file.pk}/download/?next=/%3Fstatus%3Dfailed"),
        ]
        for name, path in signed_out:
            page.goto(stack.base_url + path)
            _assert_no_sideways_scroll(page, name)
        sign_in(page, stack.base_url, stack.user.username, stack.password)
        for name, path in signed_in:
            page.goto(stack.base_url + path)
            _assert_no_sideways_scroll(page, name)
            screenshot(page, f"phone-{color_scheme}-{name}", full_page=False)
        page.goto(stack.base_url + "/")
        # Every chip is on screen (they wrap rather than scroll out of sight).
        chips = page.locator("#filters .chip:visible")
        assert chips.count() >= 8
        for index in range(chips.count()):
            box = chips.nth(index).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (index, box)
    finally:
        context.close()


def _assert_no_sideways_scroll(page, name: str) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] == widths[1] == PHONE["width"], (name, widths)


# The narrowest labelled cell of the identities table, in CSS pixels.
NARROWEST_IDENTITY_CELL = """() => Math.min(
  ...[...document.querySelectorAll('.identities td[data-label]')].map(cell => cell.getBoundingClientRect().width)
)"""


def test_on_a_phone_the_identities_stay_readable_while_refreshes_fail(stack, browser):
    """An error message in the State cell once took the room of the row, leaving the identity's name a letter wide."""
    UserIdentity.objects.update(
        error_kind="unavailable",
        error_message="WebAdMIT is unavailable (HTTP 503) for credential 'Demo (simulator)'. Will try again later.",
    )
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    try:
        sign_in(page, stack.base_url, stack.user.username, stack.password)
        page.goto(stack.base_url + "/identities/")
        screenshot(page, "phone-identities-outage", full_page=False)
        narrowest = page.evaluate(NARROWEST_IDENTITY_CELL)
        assert narrowest >= 120, f"an identities cell is {narrowest:.0f}px wide on a phone"
        _assert_no_sideways_scroll(page, "identities-outage")
    finally:
        context.close()
