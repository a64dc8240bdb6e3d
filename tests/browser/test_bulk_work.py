"""Bulk work on Recent Files in Chromium, with the real worker and the simulated WebAdMIT: rows selected by click
and Shift-click keep their ticks through the live poll's row swaps, then Acknowledge, Run again (asked in a dialog;
the new runs listed at the top) and Download as zip (opened: the files' bytes and the index)."""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import PHONE, screenshot, sign_in
from webadmit_dash.core.models import ExportFile, RunRequest
from webadmit_dash.engine import refresh

pytestmark = [pytest.mark.browser, pytest.mark.worker]

LAPTOP = {"width": 1366, "height": 768}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _docs_copy(name: str) -> Path | None:
    return DOCS / f"{name}.png" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None


def _newest_runs(stack) -> list:
    """Each export's newest run in the simulated world (forcing one of these never makes it superseded)."""
    newest = []
    for identity in stack.identities:
        seen: set[int] = set()
        for state in stack.world.files(identity.webadmit_id):  # newest first
            if state.export_id not in seen:
                seen.add(state.export_id)
                newest.append((identity, state))
    return newest


def _world(stack) -> dict[str, list[ExportFile]]:
    """Two failures, one run in progress and two available files, each its export's newest run, as the engine
    read them."""
    newest = _newest_runs(stack)
    # The available ones are text: the simulator builds a zip afresh for each download, dated inside.
    texts = [pair for pair in newest if stack.world.export(pair[1].export_id).extension in ("csv", "txt", "html")][:2]
    others = iter([pair for pair in newest if pair not in texts])
    assert len(texts) == 2 and len(newest) >= 5, "the simulated world has five exports, two of them text"
    plan = {"failed": ["Failed", "Failed"], "running": ["In Progress"], "available": ["Available", "Available"]}
    chosen: dict[str, list[tuple]] = {}
    picks = {"available": iter(texts)}
    for kind, statuses in plan.items():
        for status in statuses:
            identity, state = next(picks.get(kind, others))
            stack.control("POST", f"files/{state.id}", status=status)
            chosen.setdefault(kind, []).append((identity, state))
    for identity in stack.identities:
        refresh.refresh_identity(identity.pk)
    return {
        kind: [ExportFile.objects.get(identity=identity, webadmit_id=state.id) for identity, state in pairs]
        for kind, pairs in chosen.items()
    }


def _box(page, export_file: ExportFile):
    return page.locator(f'#files-body input[data-bulk-row][value="{export_file.pk}"]')


def _row_ids(page) -> list[str]:
    return page.locator("#files-body tr").evaluate_all("rows => rows.map(r => r.id)")


def _ticked(page) -> list[str]:
    return page.locator("#files-body input[data-bulk-row]:checked").evaluate_all("boxes => boxes.map(b => b.value)")


def test_select_act_on_and_download_many_files(stack, engine, browser):
    files = _world(stack)
    context = browser.new_context(viewport=LAPTOP, locale="en-US", accept_downloads=True)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, stack.base_url, stack.user.username, stack.password)
        bar = page.get_by_role("form", name="Selected files")
        assert bar.is_hidden()

        # Click one box, Shift-click another: the range between is ticked, around the running file.
        (running,) = files["running"]
        ids = _row_ids(page)
        at = ids.index(f"file-{running.pk}")
        first, last = (at, at + 2) if at + 2 < len(ids) else (at - 2, at)
        page.locator(f"#{ids[first]} input[data-bulk-row]").click()
        page.locator(f"#{ids[last]} input[data-bulk-row]").click(modifiers=["Shift"])
        expected = sorted(row.removeprefix("file-") for row in ids[first : last + 1])
        assert sorted(_ticked(page)) == expected
        assert bar.is_visible() and bar.get_by_text("3 files selected").is_visible()
        # The checkbox says which file it selects, for screen readers.
        name = f"Select {running.export.name}, file {running.webadmit_id} ({running.identity.display_name})"
        assert page.get_by_role("checkbox", name=name).is_checked()
        screenshot(page, "bulk-bar-light", full_page=False, also=_docs_copy("bulk-bar-light"))

        # WebAdMIT finishes the run; the worker reads it, and the poll swaps its row: it stays ticked.
        stack.control("POST", f"files/{running.webadmit_id}", status="Available")
        row = page.locator(f"#file-{running.pk}")
        row.locator(".badge", has_text="Available").wait_for(timeout=30_000)
        # (htmx may still be settling the swapped row: its classes are asked for until they are the new ones.)
        expect(row).to_have_class(re.compile(r"\bis-selected\b"), timeout=5_000)
        assert _box(page, running).is_checked()
        assert sorted(_ticked(page)) == expected and bar.get_by_text("3 files selected").is_visible()

        bar.get_by_role("button", name="Clear the selection").click()
        assert bar.is_hidden() and _ticked(page) == []

        # Acknowledge: the failures are acknowledged, the available file skipped, and the message says so.
        for export_file in [*files["failed"], files["available"][0]]:
            _box(page, export_file).click()
        bar.get_by_role("button", name="Acknowledge").click()
        page.get_by_text("2 failures acknowledged. 1 skipped: 1 had not failed.").wait_for()
        for export_file in files["failed"]:
            export_file.refresh_from_db()
            assert export_file.acknowledged_by == stack.user
            page.locator(f"#file-{export_file.pk}", has_text="acknowledged by").wait_for()
        assert bar.is_hidden()

        # Run again: asked first in a dialog naming how many runs; the new runs are listed at the top.
        for export_file in files["available"]:
            _box(page, export_file).click()
        bar.get_by_role("button", name="Run again…").click()
        dialog = page.get_by_role("dialog", name="Start 2 new runs?")
        dialog.wait_for()
        screenshot(page, "bulk-run-again-dialog", full_page=False, also=_docs_copy("bulk-run-again-dialog"))
        dialog.get_by_role("button", name="Start 2 runs").click()
        page.get_by_text("WebAdMIT is running 2 exports again; the new runs are listed at the top.").wait_for()
        assert dialog.is_hidden()
        requests = list(RunRequest.objects.filter(user=stack.user))
        assert sorted(r.requested_from_id for r in requests) == sorted(f.pk for f in files["available"])
        for request in requests:
            page.locator(f"#file-{request.run_id}").wait_for()
        top = _row_ids(page)[:2]
        assert sorted(top) == sorted(f"file-{r.run_id}" for r in requests)

        # Download as zip: both files' bytes as WebAdMIT serves them, and an index saying why the failure is absent.
        chosen = [*files["available"], files["failed"][0]]
        for export_file in chosen:
            _box(page, export_file).click()
        with page.expect_download() as info:
            bar.get_by_role("button", name="Download as zip").click()
        download = info.value
        assert re.fullmatch(r"recent-files-\d{8}-\d{4}\.zip", download.suggested_filename)
        archive = zipfile.ZipFile(io.BytesIO(download.path().read_bytes()))
        index = list(csv.reader(io.StringIO(archive.read("index.csv").decode("utf-8-sig"))))
        assert index[0] == ["File", "File id", "Identity", "Export", "Status", "Size (bytes)", "Error"]
        lines = {int(line[1]): line for line in index[1:]}
        assert sorted(lines) == sorted(f.webadmit_id for f in chosen)
        for export_file in files["available"]:
            line = lines[export_file.webadmit_id]
            body = stack.world.download(export_file.webadmit_id).body
            assert archive.read(line[0]) == body
            assert (line[2], line[3], line[4], int(line[5]), line[6]) == (
                export_file.identity.display_name,
                export_file.export.name,
                "Available",
                len(body),
                "",
            )
        failed_line = lines[files["failed"][0].webadmit_id]
        assert failed_line[0] == "" and "the run failed" in failed_line[6]
        in_zip = [lines[f.webadmit_id][0] for f in files["available"]]
        assert sorted(archive.namelist()) == sorted([*in_zip, "index.csv"])
    finally:
        context.close()


@pytest.mark.parametrize(
    ("name", "viewport", "scheme"),
    [("bulk-bar-dark", LAPTOP, "dark"), ("bulk-bar-phone", PHONE, "light")],
)
def test_the_bulk_bar_on_a_dark_laptop_and_a_phone(stack, browser, name, viewport, scheme):
    files = _world(stack)
    context = browser.new_context(viewport=viewport, color_scheme=scheme, locale="en-US")
    try:
        page = context.new_page()
        sign_in(page, stack.base_url, stack.user.username, stack.password)
        for export_file in [*files["failed"], files["available"][0]]:
            _box(page, export_file).click()
        bar = page.get_by_role("form", name="Selected files")
        assert bar.get_by_text("3 files selected").is_visible()
        # Every button of the bar is on screen, none cut off at the window's edge.
        for button in bar.get_by_role("button").all():
            box = button.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            assert box["y"] + box["height"] <= viewport["height"]
        # With the keyboard: Space on a focused box ticks it too.
        page.locator("#files-body input[data-bulk-row]:not(:checked)").first.focus()
        page.keyboard.press("Space")
        bar.get_by_text("4 files selected").wait_for()
        screenshot(page, name, full_page=False, also=_docs_copy(name))
    finally:
        context.close()
