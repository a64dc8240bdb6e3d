"""One meaning of "failed", in Chromium with the live server, a real Celery worker with beat and the simulated
WebAdMIT: a person acknowledges a failure, and the tab's title, the Failed chip and the Handled chip agree at once
and after the next poll (core/states.py). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_truth import _eventually, _newest_run_of_an_export
from tests.support.browser import ARTIFACTS, screenshot, sign_in
from webadmit_dash.core import states
from webadmit_dash.core.models import ExportFile
from webadmit_dash.core.states import FileState

pytestmark = [pytest.mark.browser, pytest.mark.worker]

# Read in one go, so the three numbers are of the same moment.
SURFACES = """() => ({
    title: document.title,
    failed: document.querySelector('#count-failed').textContent.trim(),
    handled: document.querySelector('#count-handled').textContent.trim(),
})"""


def _shown(page) -> tuple[int, int, int]:
    """(the title's "N failed", the Failed chip, the Handled chip) as the page shows them now."""
    seen = page.evaluate(SURFACES)
    in_title = re.search(r"(\d+) failed", seen["title"].replace("delivery failed", ""))
    return (int(in_title.group(1)) if in_title else 0, int(seen["failed"]), int(seen["handled"]))


def _stored() -> tuple[int, int]:
    """What the one definition says of the files WebAdMIT still lists: (failed needing attention, handled)."""
    listed = ExportFile.objects.filter(gone_at__isnull=True)
    failed = listed.filter(states.CONDITIONS[FileState.NEEDS_ATTENTION], status="failed").count()
    return failed, listed.filter(states.condition([states.HANDLED])).count()


def test_acknowledging_a_failure_moves_it_from_failed_to_handled_on_the_title_and_both_chips(stack, engine, page):
    # Two failures nobody has dealt with, each its export's newest run (so no later run supersedes it).
    failing = [_newest_run_of_an_export("available"), _newest_run_of_an_export("queued")]
    for export_file in failing:
        stack.control("POST", f"files/{export_file.webadmit_id}", status="Failed")
    _eventually(
        lambda: all(ExportFile.objects.get(pk=f.pk).status == "failed" for f in failing),
        message="the worker saw both failures",
    )
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    failed_before, handled_before = _stored()
    assert failed_before >= 2
    _eventually(lambda: _shown(page) == (failed_before, failed_before, handled_before), message=str(_shown(page)))

    chosen = failing[0]
    page.locator(f"#ack-{chosen.pk}").click()

    # At once: the acknowledgement's answer asks the page to poll (files-changed); from then on, every time the
    # page is read, the title and both chips say the same numbers.
    expected = (failed_before - 1, failed_before - 1, handled_before + 1)
    changed = f"s.failed === '{expected[1]}' && s.handled === '{expected[2]}'"
    page.wait_for_function(f"() => {{ const s = ({SURFACES})(); return {changed}; }}", timeout=15_000)
    assert _shown(page) == expected
    assert _stored() == (expected[0], expected[2])
    row = page.locator(f"#file-{chosen.pk}")
    # The row may still be settling (htmx keeps the old classes for a moment while it swaps the new row in).
    expect(row).to_have_class(re.compile(r"\bfile--acknowledged\b"), timeout=5_000)
    assert "acknowledged by" in row.inner_text()

    # After the next poll too: the counts the poll sends out of band read the same definition.
    with page.expect_response(lambda response: "/files/poll/" in response.url, timeout=30_000):
        pass
    assert _shown(page) == expected

    # The Handled chip lists what it counts.
    page.locator("label.chip--handled").click()
    page.wait_for_url(re.compile(r"status=handled"))
    _eventually(lambda: page.locator(f"#file-{chosen.pk}").count() == 1, message="the acknowledged row is listed")
    assert page.locator(f"#file-{failing[1].pk}").count() == 0
    page.locator("label.chip--handled").click()
    page.wait_for_url(re.compile(r"^(?!.*status=handled)"))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("fieldset.chips").screenshot(path=str(ARTIFACTS / "one-meaning-chips-light.png"))
    screenshot(page, "one-meaning-acknowledged", full_page=False)
    # A shared address narrowed to a state says so, and lists what the Handled chip counts.
    page.goto(f"{stack.base_url}/?state=acknowledged")
    assert page.locator("#filter-states").inner_text() == "Only: Acknowledged"
    assert page.locator("tbody tr").count() == 1 and page.locator(f"#file-{chosen.pk}").count() == 1
    screenshot(page, "one-meaning-state-filter", full_page=False)
    page.emulate_media(color_scheme="dark")
    page.locator("fieldset.chips").screenshot(path=str(ARTIFACTS / "one-meaning-chips-dark.png"))
