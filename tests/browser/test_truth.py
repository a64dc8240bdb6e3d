"""The page tells the truth, in Chromium with the live server, a real Celery worker with beat and the simulated
WebAdMIT: a failure re-run well becomes superseded and stops counting, the file page shows its history, Run again
asks first and its run shows at once, and during an outage rows say how old they are. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from tests.support.browser import screenshot, sign_in
from webadmit_dash.core.models import ExportFile, RunRequest

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _eventually(check: Callable[[], object], timeout: float = 60.0, message: str = "") -> object:
    """Polls `check` until it returns something truthy (the worker is slower on a busy machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(message or "timed out")


def _newest_run_of_an_export(status: str) -> ExportFile:
    """A file of `status` that is the newest run of its export: nothing later supersedes it."""
    for export_file in ExportFile.objects.filter(status=status).order_by("-webadmit_id"):
        later = ExportFile.objects.filter(
            identity=export_file.identity,
            export_webadmit_id=export_file.export_webadmit_id,
            webadmit_id__gt=export_file.webadmit_id,
        )
        if not later.exists():
            return export_file
    raise AssertionError(f"the simulated world has no {status} file that is its export's newest run")


def _failed_count(title: str) -> int:
    found = re.search(r"(\d+) failed", title)
    return int(found.group(1)) if found else 0


def _mark_page(page) -> None:
    page.evaluate("window.__noReload = true")


def _still_same_page(page) -> bool:
    return page.evaluate("window.__noReload === true")


def test_a_failed_file_becomes_superseded_when_its_rerun_turns_available_and_the_title_count_drops(stack, engine, page):
    failed = _newest_run_of_an_export("available")
    stack.control("POST", f"files/{failed.webadmit_id}", status="Failed")
    _eventually(lambda: ExportFile.objects.get(pk=failed.pk).status == "failed", message="the worker saw the failure")
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    row = page.locator(f"#file-{failed.pk}")
    assert row.locator(".badge").inner_text().strip() == "Failed"
    assert "file--superseded" not in (row.get_attribute("class") or "")
    failed_before = _failed_count(page.title())
    assert failed_before >= 1
    assert "favicon-failed" in page.locator("#favicon").get_attribute("href")
    _mark_page(page)

    # Someone runs the export again in WebAdMIT, and the run ends well.
    uid = failed.identity.webadmit_id
    run = stack.control("POST", f"identities/{uid}/runs", export_id=failed.export_webadmit_id)["export_files"]
    stack.control("POST", f"files/{run['id']}", status="Available")

    # The worker refreshes, the apply step supersedes the failure, and the page's poll re-renders its row.
    row.locator(".note--rerun").wait_for(timeout=60_000)
    rerun = ExportFile.objects.get(identity=failed.identity, webadmit_id=run["id"])
    assert "file--superseded" in row.get_attribute("class")
    link = row.locator(".note--rerun a")
    assert re.fullmatch(r"Available \d{2}:\d{2}", link.inner_text().strip())
    assert link.get_attribute("href") == f"/files/{rerun.pk}/"
    assert row.locator(".note--rerun").inner_text().startswith("re-run → Available")
    page.wait_for_function(f"() => !document.title.includes('{failed_before} failed')")
    assert _failed_count(page.title()) == failed_before - 1
    assert int(page.locator("#count-handled").inner_text()) >= 1
    assert _still_same_page(page)
    screenshot(page, "superseded-failure")

    # Its link leads to the run that did it.
    link.click()
    page.wait_for_url(f"{stack.base_url}/files/{rerun.pk}/")
    assert page.get_by_role("heading", level=1).inner_text() == rerun.export.name


def test_the_file_page_shows_the_timeline(stack, engine, page):
    running = _newest_run_of_an_export("queued")
    for status in ("In Progress", "Available"):
        stack.control("POST", f"files/{running.webadmit_id}", status=status)
        wanted = status.lower().replace(" ", "_")
        _eventually(lambda wanted=wanted: ExportFile.objects.get(pk=running.pk).status == wanted, message=status)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    # Download it once, so the page has someone to name.
    with page.expect_download():
        page.locator(f"#download-{running.pk}").click()

    # Each row links to its file's page.
    page.locator(f"#file-{running.pk} a.file__name").click()
    page.wait_for_url(re.compile(rf"/files/{running.pk}/$"))
    steps = page.locator("#timeline li")
    assert [steps.nth(i).locator(".badge__text").inner_text() for i in range(steps.count())] == [
        "Queued",
        "In Progress",
        "Available",
    ]
    assert re.fullmatch(r"took (<1 min|\d+ min)", steps.nth(0).locator(".timeline__took").inner_text().strip())
    assert steps.nth(2).locator(".timeline__took").inner_text().strip() == "final"
    assert "UTC" in steps.nth(0).locator(".timeline__when").inner_text()
    assert "morgan" in page.locator("#downloads").inner_text()
    assert page.locator("#siblings tr[aria-current='page']").count() == 1
    screenshot(page, "file-page")


def test_run_again_asks_first_and_its_run_appears_at_once(stack, engine, page):
    finished = _newest_run_of_an_export("available")
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    _mark_page(page)
    dialog = page.locator("#run-again-dialog")
    button = page.locator(f"#rerun-{finished.pk}")

    # Asked, and declined with Escape: nothing is started, and focus is back on the button.
    button.focus()
    page.keyboard.press("Enter")
    dialog.wait_for(state="visible")
    assert finished.export.name in dialog.inner_text()
    assert page.evaluate("document.activeElement.id") == "run-again-confirm"
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == f"rerun-{finished.pk}"
    page.wait_for_timeout(500)
    assert not RunRequest.objects.exists()

    # Asked again, and confirmed from the keyboard.
    page.keyboard.press("Enter")
    dialog.wait_for(state="visible")
    screenshot(page, "run-again-dialog", full_page=False)
    started_at = time.monotonic()
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    request = _eventually(lambda: RunRequest.objects.filter(run__isnull=False).first(), message="no run requested")
    assert request.user == stack.user and request.requested_from_id == finished.pk

    # The run is listed at the top at once, without "Show new files", and announced.
    new_row = page.locator(f"#file-{request.run_id}")
    new_row.wait_for(timeout=30_000)
    waited = time.monotonic() - started_at
    assert page.locator("#results tbody tr").first.get_attribute("id") == f"file-{request.run_id}"
    assert new_row.locator(".badge").inner_text().strip() == "Initializing"
    assert page.locator("#notice .notice").count() == 0
    assert "Your new run of" in page.locator("#announcer").inner_text()
    assert "WebAdMIT is running" in page.locator("#messages").inner_text()
    assert _still_same_page(page)
    screenshot(page, "run-again-inserted")
    print(f"the new run was on screen {waited:.1f} s after the confirmation")


def test_during_an_outage_rows_say_as_of_when_and_the_title_is_marked(stack, engine, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.wait_for_selector("#results tbody tr")
    assert page.locator(".file__asof").count() == 0
    assert not page.title().startswith("Stale")
    _mark_page(page)

    stack.control("POST", "faults", kind="unavailable")

    # The refreshes fail; once two fast refreshes are missed, every row says since when its status is known.
    page.locator("#results tbody .file__asof").first.wait_for(timeout=60_000)
    page.wait_for_function("() => document.title.startsWith('Stale · ')", timeout=30_000)
    # Each identity fails on its own schedule: in a moment, all of them.
    page.wait_for_function(
        "() => document.querySelectorAll('#results tbody .file__asof').length"
        " === document.querySelectorAll('#results tbody tr').length",
        timeout=60_000,
    )
    assert re.fullmatch(r"as of \d{2}:\d{2}", page.locator(".file__asof").first.inner_text().strip())
    assert "data from" in page.locator("#sources").inner_text()
    assert "Last refresh failed" in page.locator("#sources").inner_text()
    assert _still_same_page(page)
    screenshot(page, "outage-as-of")

    # WebAdMIT answers again: the marks go by themselves.
    stack.control("DELETE", "faults")
    page.wait_for_function("() => !document.title.startsWith('Stale')", timeout=90_000)
    page.locator("#results tbody .file__asof").first.wait_for(state="detached", timeout=30_000)
    assert _still_same_page(page)


def test_run_again_without_javascript_asks_on_a_page_of_its_own(stack, browser):
    finished = _newest_run_of_an_export("available")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1360, "height": 900})
    try:
        page = context.new_page()
        sign_in(page, stack.base_url, stack.user.username, stack.password)
        page.locator('#filters input[value="available"]').check(force=True)
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_url(re.compile(r"status=available"))

        page.locator(f"#rerun-{finished.pk}").click()
        page.get_by_role("heading", name=f"Run {finished.export.name} again?").wait_for()
        assert not RunRequest.objects.exists(), "asking starts nothing"
        page.get_by_role("button", name="Start a new run").click()

        page.wait_for_url(re.compile(rf"^{re.escape(stack.base_url)}/\?.*status=available"))
        assert "WebAdMIT is running" in page.locator("#messages").inner_text()
        request = RunRequest.objects.get()
        assert request.user == stack.user and request.run is not None
        screenshot(page, "run-again-without-javascript")
    finally:
        context.close()
