"""An export's history (issue 23, points 8 and 10) in Chromium, with the real worker and the simulated WebAdMIT:
runs started and ended in WebAdMIT are read by the worker; the export's page tells the rate, the usual duration,
the current run against it and who downloaded the last good run; the Running chip lists only unfinished runs; a
failed row says a newer run is going until that run ends.

Screenshots land in tests/artifacts/ (and docs/screenshots/ with UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.browser import PHONE, screenshot, sign_in
from tests.support.waiting import eventually
from webadmit_dash.core.models import DownloadEvent, Export, ExportFile
from webadmit_dash.webadmit.statuses import OUTCOMES, RUNNING

pytestmark = [pytest.mark.browser, pytest.mark.worker]

LAPTOP = {"width": 1366, "height": 768}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RUNNING_VALUES = {status.value for status in RUNNING}


def _docs_copy(name: str) -> Path | None:
    return DOCS / f"{name}.png" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None


@dataclass
class Story:
    export: Export
    good: ExportFile  # started, seen running, then Available
    failed: ExportFile  # started, seen running, then Failed
    going: ExportFile  # started after the failure, still running


def _seen(identity, webadmit_id: int, statuses: set[str]) -> ExportFile:
    """The run as the worker has read it, once it is in one of `statuses`."""
    return eventually(
        lambda: ExportFile.objects.filter(identity=identity, webadmit_id=webadmit_id, status__in=statuses).first(),
        what=f"the worker to read run {webadmit_id} as {sorted(statuses)}",
    )


def _start(stack, identity, export: Export) -> int:
    started = stack.control("POST", f"identities/{identity.webadmit_id}/runs", export_id=export.webadmit_id)
    run_id = started["export_files"]["id"]
    _seen(identity, run_id, RUNNING_VALUES)
    return run_id


def _story(stack) -> Story:
    """Three runs of one export, each seen running by the worker first (so their durations are known)."""
    identity = stack.identities[0]
    export = (
        Export.objects.filter(identity=identity, format="Comma-Separated Values", files__status="available")
        .order_by("pk")
        .first()
    )
    assert export is not None, "the simulated world has an Available CSV export"
    good = _start(stack, identity, export)
    stack.control("POST", f"files/{good}", status="Available")
    _seen(identity, good, {"available"})
    failed = _start(stack, identity, export)
    stack.control("POST", f"files/{failed}", status="Failed")
    _seen(identity, failed, {"failed"})
    going = _start(stack, identity, export)
    return Story(
        export,
        ExportFile.objects.get(identity=identity, webadmit_id=good),
        ExportFile.objects.get(identity=identity, webadmit_id=failed),
        ExportFile.objects.get(identity=identity, webadmit_id=going),
    )


def _expected_rate(export: Export) -> str:
    outcomes = list(
        ExportFile.objects.filter(identity=export.identity, export_webadmit_id=export.webadmit_id)
        .filter(status__in=[status.value for status in OUTCOMES])
        .order_by("-webadmit_id")
        .values_list("status", flat=True)[:10]
    )
    failed = outcomes.count("failed")
    assert 0 < failed < len(outcomes), "the story has a failure and a success among the last runs"
    return f"Failed {failed} of the last {len(outcomes)} runs."


def test_the_export_page_tells_its_history_from_a_row(stack, engine, page):
    stack.user.first_name, stack.user.last_name = "María", "Núñez-O'Brien"
    stack.user.save()
    story = _story(stack)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.set_viewport_size(LAPTOP)

    # Downloaded in the browser: the row then says by whom (the latest download that gave the file).
    with page.expect_download():
        page.locator(f"#download-{story.good.pk}").click()
    assert DownloadEvent.objects.filter(export_file=story.good, outcome="redirected").exists()
    page.reload()
    downloaded = page.locator(f"#downloaded-{story.good.pk}")
    assert re.fullmatch(r"downloaded by María Núñez-O'Brien \d\d:\d\d", downloaded.inner_text().strip())
    page.locator(f"#file-{story.good.pk}").scroll_into_view_if_needed()
    screenshot(page, "recent-files-downloaded-by", full_page=False, also=_docs_copy("recent-files-downloaded-by"))

    # The row's History link opens the export's page.
    page.locator(f"#file-{story.good.pk}").get_by_role("link", name=f"History of {story.export.name}").click()
    page.wait_for_url(f"{stack.base_url}/exports/{story.export.pk}/")
    assert page.get_by_role("heading", name=story.export.name, exact=True).is_visible()
    for run in (story.good, story.failed, story.going):
        assert page.locator(f"#run-{run.pk}").is_visible()
    assert "María Núñez-O'Brien" not in page.locator(f"#run-{story.good.pk}").inner_text()  # started in WebAdMIT
    assert page.locator("#history-rate").inner_text().strip() == _expected_rate(story.export)
    assert re.fullmatch(
        r"Usually takes \S+ min \(the median of 2 finished runs\)\.", page.locator("#usual-duration").inner_text()
    )
    current = page.locator("#current-run").inner_text()
    assert re.fullmatch(rf"File {story.going.webadmit_id}: Running \S+ min; usually takes \S+ min\.", current)
    last_good = page.locator("#last-good").inner_text()
    assert f"File {story.good.webadmit_id}, Available" in last_good
    assert re.search(r"downloaded by María Núñez-O'Brien \d\d:\d\d$", last_good)
    # The strip: one entry per run, each with its status in words for screen readers.
    strip = page.get_by_role("list", name=re.compile(r"Outcomes of the last \d+ runs, oldest first"))
    assert strip.get_by_role("link", name=f"File {story.failed.webadmit_id}: Failed").is_visible()
    # Its schedule parts stay.
    assert page.get_by_role("heading", name="Add a schedule").is_visible()

    screenshot(page, "export-history-light", full_page=False, also=_docs_copy("export-history-light"))
    page.emulate_media(color_scheme="dark")
    screenshot(page, "export-history-dark", full_page=False, also=_docs_copy("export-history-dark"))
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(PHONE)
    screenshot(page, "export-history-phone", full_page=False, also=_docs_copy("export-history-phone"))


def test_the_running_chip_and_a_failed_row_overtaken_by_a_newer_run(stack, engine, page):
    story = _story(stack)
    sign_in(page, stack.base_url, stack.user.username, stack.password)

    # The failed run says a newer one is going, linking to it.
    newer = page.locator(f"#newer-{story.failed.pk}")
    assert re.fullmatch(r"a newer run is going: started \d\d:\d\d", newer.inner_text().strip())
    assert newer.get_by_role("link").get_attribute("href") == f"/files/{story.going.pk}/"

    # What's running: one click, the address says so, and only unfinished runs are listed, as many as counted.
    page.locator(".chip--running").click()
    page.wait_for_url(re.compile(r"[?&]status=running\b"))
    page.locator(f"#file-{story.failed.pk}").wait_for(state="detached")
    rows = page.locator("#results tbody tr")
    expected = ExportFile.objects.filter(
        status__in=RUNNING_VALUES, superseded_by__isnull=True, gone_at__isnull=True
    ).count()
    assert rows.count() == expected == int(page.locator("#count-running").inner_text())
    labels = rows.locator(".badge__text").all_inner_texts()
    assert labels and set(labels) <= {"Initializing", "Queued", "In Progress"}
    assert page.locator(f"#file-{story.going.pk}").is_visible()

    # Back to every file: once the newer run ends (badly, so nothing supersedes the failure), the note goes,
    # without a reload.
    page.locator(".chip--all").click()
    page.wait_for_url(lambda url: "status=" not in url)
    newer.wait_for()
    page.evaluate("window.__noReload = true")
    stack.control("POST", f"files/{story.going.webadmit_id}", status="Failed")
    newer.wait_for(state="detached", timeout=30_000)
    assert page.evaluate("window.__noReload === true")
    assert page.locator(f"#file-{story.failed.pk}").is_visible()
