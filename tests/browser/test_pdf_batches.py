"""PDF Manager batches on the page: a batch started with Run again is listed at once, becomes Available, and each of
its zips downloads through our address and WebAdMIT's 302; and a picture of a list mixing export files and batches.

The engine's refreshes are run here in the test (as test_own_runs does), so each step waits on the page, not on a
worker's timing."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from tests.support.browser import screenshot, sign_in
from webadmit_dash.core.models import ExportFile, Kind, RunRequest, UserIdentity
from webadmit_dash.engine import refresh

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def watched(stack) -> UserIdentity:
    """The first identity, following its batches, refreshed until its ready batches' zips are read."""
    identity = stack.identities[0]
    UserIdentity.objects.filter(pk=identity.pk).update(watch_pdf_batches=True)
    _refresh_until_zips_read(identity.pk)
    return identity


def _refresh_until_zips_read(identity_pk: int) -> None:
    for _ in range(12):
        refresh.refresh_identity(identity_pk)
        ready = ExportFile.objects.filter(
            identity_id=identity_pk, kind=Kind.PDF_BATCH, gone_at__isnull=True, status__in=["available"]
        )
        if ready.exists() and not ready.filter(zips__isnull=True).exists():
            return
    raise AssertionError("the ready batches' zips were not read")


def _finished_batch(identity: UserIdentity) -> ExportFile:
    """A finished batch of a template with several zips, not superseded (its row offers Run again)."""
    batches = ExportFile.objects.filter(identity=identity, kind=Kind.PDF_BATCH, gone_at__isnull=True)
    for batch in batches.filter(superseded_by__isnull=True).order_by("-webadmit_id"):
        if batch.status_enum.is_finished and batch.export and batch.export.name == "Full Application PDFs":
            return batch
    raise AssertionError("the simulated world has no finished batch of its large template")


def test_a_batch_started_from_the_page_becomes_available_and_each_zip_downloads(stack, watched, page):
    finished = _finished_batch(watched)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/?kind=pdf_batch")

    page.locator(f"#rerun-{finished.pk}").click()
    dialog = page.locator("#run-again-dialog")
    assert "make a new batch of" in dialog.inner_text()
    dialog.get_by_role("button", name=f"Start a new batch of {finished.title}").click()

    request = _wait_for(page, lambda: RunRequest.objects.filter(run__isnull=False).first())
    new = ExportFile.objects.get(pk=request.run_id)
    assert new.kind == Kind.PDF_BATCH and new.export_id == finished.export_id
    row = page.locator(f"#file-{new.pk}")
    row.wait_for(timeout=10_000)
    assert "PDF · Full Application PDFs" in row.inner_text()

    stack.control("POST", f"pdf_manager_batches/{new.webadmit_id}", state="available")
    _refresh_until_zips_read(watched.pk)
    menu = page.locator(f"#zips-{new.pk}")
    menu.wait_for(timeout=15_000)  # the page's poll brings the row with its zips
    parts = new.zips.count()
    assert parts >= 2
    for part in range(1, parts + 1):
        if not menu.evaluate("(details) => details.open"):  # a download leaves the page, and its menu, as they were
            menu.locator("summary").click()
        with page.expect_download() as info:
            menu.get_by_role("link", name=f"Zip {part} of {parts}").click()
        archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
        assert archive.namelist() and all(name.endswith(".pdf") for name in archive.namelist())
    downloads = new.downloads.order_by("created_at")
    assert [event.message for event in downloads] == [f"Zip {part} of {parts}" for part in range(1, parts + 1)]
    assert {event.outcome for event in downloads} == {"redirected"}


def test_a_list_mixing_export_files_and_batches(stack, watched, page):
    page.set_viewport_size({"width": 1360, "height": 900})
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/?identity={watched.pk}")
    body = page.locator("#files-body")
    assert "PDF · " in body.inner_text()
    assert ExportFile.objects.filter(identity=watched, kind=Kind.EXPORT).exists()
    batch = ExportFile.objects.filter(identity=watched, kind=Kind.PDF_BATCH, zips__parts__gt=1).first()
    assert batch is not None
    page.locator(f"#zips-{batch.pk} summary").click()
    also = DOCS / "recent-files-with-batches.png" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None
    screenshot(page, "recent-files-with-batches", full_page=False, also=also)


def _wait_for(page, found):
    for _ in range(100):
        value = found()
        if value is not None:
            return value
        page.wait_for_timeout(100)
    raise AssertionError("not recorded in time")
