"""A run started with Run again is listed at the top at once, whatever else the same poll brings.

Issue 23's first defect: a run started as the first action after signing in sometimes never appeared. The poll that
Run again triggers carried a row changed since the page loaded and then the new run; the changed row came first as a
bare <tr>, which put the browser's HTML parser in table-body mode, where the <tbody> that inserts the new run is
dropped. The message named the run, no row came, and a later poll updating it failed with htmx:oobErrorNoTarget.
"""

from __future__ import annotations

import pytest

from tests.support.browser import sign_in
from webadmit_dash.core.models import ExportFile, RunRequest
from webadmit_dash.engine import refresh

pytestmark = pytest.mark.browser

STARTS = 20
_OOB_ERRORS = """
window.__oobErrors = [];
document.addEventListener("htmx:oobErrorNoTarget", (event) => window.__oobErrors.push(event.detail.content.id));
"""


def _finished_run() -> ExportFile:
    """An Available file that is its export's newest run, so Run again starts a new one rather than finding one."""
    for export_file in ExportFile.objects.filter(status="available").order_by("-webadmit_id"):
        later = ExportFile.objects.filter(
            identity=export_file.identity,
            export_webadmit_id=export_file.export_webadmit_id,
            webadmit_id__gt=export_file.webadmit_id,
        )
        if not later.exists():
            return export_file
    raise AssertionError("the simulated world has no Available file that is its export's newest run")


def _finish_in_webadmit(stack, export_file: ExportFile) -> None:
    """WebAdMIT finishes the run and the engine reads it: a row on the signed-in page changes under it."""
    stack.control("POST", f"files/{export_file.webadmit_id}", status="Available")
    refresh.refresh_identity(export_file.identity_id)


def test_a_run_started_as_the_first_action_after_signing_in_is_listed_first_every_time(stack, browser):
    finished = _finished_run()
    changing = ExportFile.objects.filter(status__in=["initializing", "queued", "in_progress"]).first()
    assert changing is not None, "the simulated world starts with unfinished files"
    for start in range(1, STARTS + 1):
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.add_init_script(script=_OOB_ERRORS)
        try:
            page = context.new_page()
            sign_in(page, stack.base_url, stack.user.username, stack.password)
            # A row shown on this page changes before the first poll, so the poll Run again triggers carries it too.
            _finish_in_webadmit(stack, changing)

            page.locator(f"#rerun-{finished.pk}").click()
            page.get_by_role("button", name="Start a new run").click()

            request = _wait_for_request(page, count=start)
            new_row = page.locator("#files-body tr").first
            new_row.and_(page.locator(f"#file-{request.run_id}")).wait_for(timeout=10_000)
            assert page.evaluate("() => window.__oobErrors") == [], f"start {start}: a poll missed a row"
            # The next start finishes this run first, so Run again never finds one still going.
            changing = ExportFile.objects.get(pk=request.run_id)
        finally:
            context.close()


def _wait_for_request(page, count: int) -> RunRequest:
    """The RunRequest of the start just confirmed, once the view has stored it (the click does not wait for it)."""
    for _ in range(100):
        if RunRequest.objects.count() >= count:
            request = RunRequest.objects.order_by("-pk").first()
            assert request is not None and request.run_id is not None, "Run again stored the run it started"
            return request
        page.wait_for_timeout(100)
    raise AssertionError(f"Run again #{count} was not recorded")
