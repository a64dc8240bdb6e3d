"""The whole running system in Chromium: live server, Celery worker with beat, and the simulated WebAdMIT.

Each test saves a screenshot under tests/artifacts/.
"""

from __future__ import annotations

import re

import pytest

from tests.support.browser import screenshot, sign_in
from webadmit_dash.core.models import DownloadEvent, ExportFile, UserIdentity

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _mark_page(page) -> None:
    """A flag a full reload would wipe: tests check it survived, so updates came without one."""
    page.evaluate("window.__noReload = true")


def _still_same_page(page) -> bool:
    return page.evaluate("window.__noReload === true")


def test_a_status_changed_in_webadmit_appears_without_a_reload(stack, engine, page):
    queued = ExportFile.objects.filter(status__in=["initializing", "queued", "in_progress"]).first()
    assert queued is not None, "the simulated world starts with unfinished files"
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    row = page.locator(f"#file-{queued.pk}")
    assert row.locator(".badge").inner_text().strip() in {"Initializing", "Queued", "In Progress"}
    before = page.locator("#results tbody tr").evaluate_all("rows => rows.map(r => r.id)")
    title = page.title()
    _mark_page(page)

    stack.control("POST", f"files/{queued.webadmit_id}", status="Available")

    # The worker refreshes, the page's poll picks the change up and swaps the one row in place.
    row.locator(".badge", has_text="Available").wait_for(timeout=30_000)
    assert row.get_by_role("link", name=re.compile("Download")).is_visible()
    assert _still_same_page(page)
    # Rows stay where they were under the pointer: the changed one was swapped, not moved.
    assert page.locator("#results tbody tr").evaluate_all("rows => rows.map(r => r.id)") == before
    # Screen readers were told.
    assert "Available" in page.locator("#announcer").inner_text()
    # The tab's title counts one file fewer running.
    running = int(re.match(r"(\d+) running", title).group(1))
    assert page.title().startswith(f"{running - 1} running" if running > 1 else "Recent Files")
    screenshot(page, "live-status-change")


def test_download_delivers_the_simulators_csv(stack, page):
    available = (
        ExportFile.objects.filter(status="available", export__format="Comma-Separated Values")
        .select_related("export")
        .first()
    )
    assert available is not None, "the simulated world has an Available CSV export"
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    _mark_page(page)
    with page.expect_download() as info:
        page.locator(f"#download-{available.pk}").click()
    download = info.value
    body = download.path().read_bytes()
    expected = stack.world.download(available.webadmit_id)
    assert body == expected.body
    assert download.suggested_filename == f"{available.export.name}.csv"
    # WebAdMIT's CSVs are Latin-1, with a header row.
    header = body.decode("iso-8859-1").splitlines()[0]
    assert header.count(",") >= 2
    # The page stayed put, and the attempt is audited (without the URL).
    assert _still_same_page(page)
    event = DownloadEvent.objects.get()
    assert (event.export_file_id, event.outcome) == (available.pk, DownloadEvent.Outcome.REDIRECTED)
    screenshot(page, "download")


def test_a_file_webadmit_lost_shows_our_page_not_s3s_xml(stack, page):
    available = ExportFile.objects.filter(status="available").first()
    ExportFile.objects.filter(pk=available.pk).update(webadmit_id=999_999_999)  # a run WebAdMIT never had
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    response = page.goto(f"{stack.base_url}/files/{available.pk}/download/")
    assert response.status == 410
    assert page.get_by_role("heading", name="WebAdMIT no longer has this file").is_visible()
    assert "<Error>" not in page.content()
    screenshot(page, "download-gone")


def test_a_rejected_key_shows_the_banner(stack, engine, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    _mark_page(page)
    stack.control("POST", "faults", kind="key_rejected")

    banner = page.locator("#banner .banner--error", has_text="WebAdMIT rejected the API key")
    banner.wait_for(timeout=30_000)
    assert "Admissions office" in banner.inner_text()
    assert "WebAdMIT is asked again" in banner.inner_text()  # when its key is checked by itself
    assert "an administrator enters the new one" in banner.inner_text()
    assert _still_same_page(page)
    assert UserIdentity.objects.filter(error_kind="key_rejected").exists()
    screenshot(page, "banner-key-rejected")


def test_refresh_now_and_filters_work_from_the_keyboard(stack, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    _mark_page(page)
    # Status chips are checkboxes: focus one with Tab and toggle it with Space.
    failed_chip = page.locator('#filters input[value="failed"]')
    failed_chip.focus()
    page.keyboard.press("Space")
    page.wait_for_url(re.compile(r"status=failed"))
    statuses = page.locator("#results tbody .badge").all_inner_texts()
    assert statuses and {s.strip() for s in statuses} == {"Failed"}
    assert _still_same_page(page)  # the filter swapped the results, not the page

    identity = stack.identities[0]
    button = page.locator(f"#refresh-{identity.pk}")
    button.focus()
    page.keyboard.press("Enter")
    page.locator("#messages .message", has_text="Refreshing").wait_for()
    assert UserIdentity.objects.get(pk=identity.pk).refresh_queued_at is not None
    # Disabled while in flight, the button lost focus; it gets it back once the answer is in (app.js).
    page.wait_for_function(f"() => document.activeElement && document.activeElement.id === 'refresh-{identity.pk}'")
    screenshot(page, "filtered-and-refresh-now")


def test_the_page_polls_only_while_visible_and_unchanged_polls_are_204(stack, page):
    polls: list[int] = []
    page.on("response", lambda response: "/files/poll/" in response.url and polls.append(response.status))
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.wait_for_timeout(6500)  # the page shows unfinished files: it polls every 3 s
    # Nothing changed, so nothing is rendered; once a minute a poll re-renders the freshness (a 200).
    assert polls.count(204) >= 1 and polls.count(200) <= 1 and set(polls) <= {200, 204}, polls

    # Hide the tab: no polls at all.
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.wait_for_timeout(300)
    hidden_from = len(polls)
    page.wait_for_timeout(7000)
    assert len(polls) == hidden_from

    # Show it again: it polls at once, without waiting for the next tick.
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.wait_for_timeout(800)
    assert len(polls) == hidden_from + 1


def test_the_page_works_without_javascript(stack, browser):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1360, "height": 900})
    try:
        page = context.new_page()
        sign_in(page, stack.base_url, stack.user.username, stack.password)
        assert "Live updates need JavaScript" in page.locator(".pagehead").inner_text()
        # Filters are a plain form: tick a status, apply, and the URL carries it.
        page.locator('#filters input[value="failed"]').check(force=True)
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_url(re.compile(r"status=failed"))
        assert {s.strip() for s in page.locator("#results tbody .badge").all_inner_texts()} == {"Failed"}
        # Refresh now is a plain POST form that comes back to the same filtered page.
        identity = stack.identities[0]
        page.locator(f"#refresh-{identity.pk}").click()
        page.wait_for_url(re.compile(r"status=failed"))
        assert page.locator("#messages .message", has_text="Refreshing").is_visible()
        screenshot(page, "without-javascript")
    finally:
        context.close()
