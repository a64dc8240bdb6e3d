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


WIDE = {"width": 1920, "height": 1080}
# Real WebAdMIT names: an identity's organisation and an export's name as long as offices make them.
LONG_ORGANIZATION = "Université de Montréal School of Nursing and Health Sciences \u2013 Graduate Admissions"
LONG_EXPORT = "Interview Roster \u2013 Café Session with Faculty, Alumni and Current Students (Spring Term)"


def _long_names() -> None:
    from webadmit_dash.core.models import Export

    UserIdentity.objects.update(association="NursingCAS", organization=LONG_ORGANIZATION, label="")
    for export in Export.objects.all():
        export.name = f"{LONG_EXPORT} {export.pk}"
        export.save(update_fields=["name"])


# Rows of one text line each: the export and identity cells do not wrap (the full name shows on hover and focus).
ROW_HEIGHTS = "() => [...document.querySelectorAll('#results tbody tr')].map(row => row.getBoundingClientRect().height)"


def test_long_names_keep_eight_rows_at_1366_by_768_with_the_whole_name_on_hover_focus_and_to_screen_readers(
    stack, page
):
    _long_names()
    page.set_viewport_size(LAPTOP)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.wait_for_selector("#results tbody tr")
    screenshot(page, "laptop-long-names", full_page=False)
    assert _rows_in_view(page) >= 8, _rows_in_view(page)

    name = page.locator("#results tbody tr .file__name").first
    full = name.get_attribute("title") or ""
    assert full.startswith(LONG_EXPORT), full
    # The accessibility tree has the whole name, not the cut one.
    assert name.evaluate("el => el.textContent.trim()").startswith(LONG_EXPORT)
    identity = page.locator("#results tbody tr .file__identity-name").first
    assert LONG_ORGANIZATION in (identity.get_attribute("title") or "")
    # Cut on screen, whole once focused (keyboard users see what a mouse user sees on hover).
    assert name.evaluate("el => el.scrollWidth > el.clientWidth")
    name.focus()
    assert not name.evaluate("el => el.scrollWidth > el.clientWidth + 1")


def test_at_1920_by_1080_the_list_uses_the_width_and_names_need_no_cutting(stack, page):
    _long_names()
    page.set_viewport_size(WIDE)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.wait_for_selector("#results tbody tr")
    screenshot(page, "wide-long-names", full_page=False)
    table = page.locator("#results table").bounding_box()
    assert table and table["width"] >= 1700, table
    # The identity strip is not cut: every identity's box is wholly on screen.
    rights = page.evaluate(
        "[...document.querySelectorAll('#sources .source')].map(s => s.getBoundingClientRect().right)"
    )
    assert rights and max(rights) <= WIDE["width"] - 20, rights
    assert _rows_in_view(page) >= 14, _rows_in_view(page)


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_on_a_phone_the_filters_wait_behind_one_button_and_rows_start_on_the_first_screen(stack, browser, color_scheme):
    _long_names()
    context = browser.new_context(viewport=PHONE, locale="en-US", color_scheme=color_scheme)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in(page, stack.base_url, stack.user.username, stack.password)
        page.wait_for_selector("#results tbody tr")
        screenshot(page, f"phone-{color_scheme}-filters-closed", full_page=False)
        first_row = page.locator("#results tbody tr").first.bounding_box()
        assert first_row and first_row["y"] < PHONE["height"] - 100, first_row
        assert not page.locator("#id_q").is_visible()
        toggle = page.get_by_role("button", name="Filters")
        assert toggle.get_attribute("aria-expanded") == "false"
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        assert page.locator("#id_q").is_visible()
        screenshot(page, f"phone-{color_scheme}-filters-open", full_page=False)
        # A filter applied from the open panel works as on a laptop, and the panel says it is in force when closed.
        page.select_option("#id_cycle", index=1)
        page.wait_for_url("**cycle=*")
        toggle.click()
        assert "1" in toggle.inner_text(), toggle.inner_text()
        _assert_no_sideways_scroll(page, "phone-filters")
    finally:
        context.close()
