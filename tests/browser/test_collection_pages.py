"""Collection in the browser: the file page's trail, Deliver again by htmx under the strict CSP, Download from the
archive, and the delivery-failed mark on Recent Files; pictures at a laptop's width and a phone's, looked at."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.browser import PHONE, screenshot, sign_in
from tests.support.collection import EXPORT_BYTES, collect, deliver_now, delivery, destination, refused_delivery
from webadmit_dash.collection.models import FileDelivery
from webadmit_dash.core.models import DownloadEvent, ExportFile

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}
SCREENS = Path("/tmp/screens")


def keep(path: Path, name: str) -> None:
    """A copy where the report points (tests/artifacts/ is cleaned by other runs)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / f"{name}.png")


@pytest.fixture
def trail_world(stack, tmp_path) -> tuple[ExportFile, ExportFile]:
    """One file delivered to a folder, refused by another destination and waiting for a third; another refused."""
    shown, other, sent = ExportFile.objects.filter(status="available").order_by("pk")[:3]
    collected = collect(shown)
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    deliver_now(
        FileDelivery.objects.create(
            collected=collected, destination=destination("Registrar share", outbox), file_name="Banner_20261205.csv"
        )
    )
    refused_delivery(collected, tmp_path, name="Slate SFTP")
    delivery(collected, destination("SIS bucket"), FileDelivery.State.PENDING, attempts=2)
    refused_delivery(collect(other), tmp_path, name="Salesforce SFTP")
    registrar = FileDelivery.objects.get(collected=collected, state=FileDelivery.State.DELIVERED).destination
    deliver_now(FileDelivery.objects.create(collected=collect(sent), destination=registrar, file_name="Sent.csv"))
    return shown, other


@pytest.mark.parametrize(("name", "viewport"), [("file-trail-laptop", LAPTOP), ("file-trail-phone", PHONE)])
def test_the_file_page_shows_its_trail(stack, page, trail_world, name, viewport):
    shown, _ = trail_world
    page.set_viewport_size(viewport)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/files/{shown.pk}/")
    trail = page.locator("#trail")
    assert "Delivered to Registrar share" in trail.inner_text()
    assert "Delivery to Slate SFTP failed" in trail.inner_text()
    assert "Waiting to be delivered to SIS bucket" in trail.inner_text()
    trail.scroll_into_view_if_needed()
    keep(screenshot(page, name, full_page=True), name)


def test_deliver_again_updates_the_trail_in_place(stack, page, trail_world):
    shown, _ = trail_world
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/files/{shown.pk}/")
    page.get_by_role("button", name="Deliver again").click()
    page.get_by_text("will be delivered again to").wait_for()
    trail = page.locator("#trail").inner_text()
    assert trail.count("Waiting to be delivered") == 3  # the new rounds, and the one still waiting
    assert FileDelivery.objects.filter(collected__export_file=shown, round=2).count() == 2
    keep(screenshot(page, "file-trail-after-deliver-again", full_page=False), "file-trail-after-deliver-again")


def test_download_serves_the_archived_bytes(stack, page, trail_world):
    shown, _ = trail_world
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/files/{shown.pk}/")
    with page.expect_download() as download:
        page.locator(f"#download-{shown.pk}").click()
    assert Path(download.value.path()).read_bytes() == EXPORT_BYTES
    assert download.value.suggested_filename.endswith(f"_{shown.webadmit_id}.csv")
    assert DownloadEvent.objects.get().outcome == DownloadEvent.Outcome.FROM_ARCHIVE


@pytest.mark.parametrize(
    ("name", "viewport"), [("delivery-failed-rows-laptop", LAPTOP), ("delivery-failed-rows-phone", PHONE)]
)
def test_recent_files_marks_a_failed_delivery(stack, page, trail_world, name, viewport):
    _, other = trail_world
    page.set_viewport_size(viewport)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    row = page.locator(f"#file-{other.pk}")
    assert row.locator(".handover--failed").inner_text().strip() == "Delivery failed"
    assert "delivery failed" in page.title()
    assert page.locator(".chip--delivery_failed").is_visible()
    assert page.locator("#count-delivery_failed").inner_text() == "2"
    # The refused files sort with those needing attention, after newer runs: the picture shows them where they are.
    row.evaluate("row => row.scrollIntoView({block: 'center'})")
    keep(screenshot(page, name, full_page=False), name)


@pytest.mark.parametrize(
    ("name", "viewport"), [("api-tokens-acting-laptop", LAPTOP), ("api-tokens-acting-phone", PHONE)]
)
def test_a_token_is_made_to_act_only_when_asked(stack, page, name, viewport):
    page.set_viewport_size(viewport)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/api/tokens/")
    page.get_by_label("New token: what will use it?").fill("Slate redelivery script")
    page.get_by_label("It may also act").check()
    page.get_by_role("button", name="Create token").click()
    assert page.get_by_label("The new token").input_value().startswith("wdash_")
    assert "may act" in page.locator("table.tokens").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    keep(screenshot(page, name, full_page=True), name)
