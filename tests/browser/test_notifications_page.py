"""A user subscribes on /notifications/ in Chromium; the simulator finishes a run; the real worker (with beat) fans it
out and the mail reaches a real SMTP server. Screenshots of the page (light, dark, phone) are taken on the way,
and copied to docs/screenshots/ when UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from tests.support.browser import PHONE, screenshot, sign_in
from tests.support.mail import SmtpServer
from tests.support.waiting import eventually
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.core.models import UserIdentity

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _docs_copy(name: str) -> Path | None:
    return DOCS / f"{name}.png" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailing_engine(stack, smtp: SmtpServer, settings) -> Iterator[CeleryWorker]:
    """The real worker with beat, refreshing every identity every 1-2 s and mailing through the test's server."""
    # The web server (this process) knows the worker's mail server too, as in production: its page says "Sent".
    for name, value in smtp.settings.items():
        setattr(settings, name, value)
    UserIdentity.objects.update(fast_interval=1, slow_interval=2, next_refresh_at=timezone.now())
    purge_queue()
    env = {**smtp.environment, "WEBADMIT_DISPATCH_EVERY": "1", "NOTIFY_FAN_OUT_EVERY": "1", "SITE_URL": stack.base_url}
    worker = CeleryWorker(beat=True, env=env, name="notify-browser")
    try:
        yield worker.start()
    finally:
        worker.close()


@pytest.mark.worker
@pytest.mark.timeout(240)
def test_a_user_subscribes_and_the_mail_reaches_the_smtp_server(stack, page, smtp, mailing_engine, browser):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.get_by_role("link", name="Notifications").click()
    page.wait_for_url(f"{stack.base_url}/notifications/")
    assert page.get_by_text("You have no subscriptions yet").is_visible()
    # The identity list shows only for "Only these identities" (CSS, no script).
    assert not page.locator(".subform__identities").is_visible()
    page.get_by_label("Only these identities").check()
    assert page.locator(".subform__identities").is_visible()
    page.get_by_label("Every identity I may see, including ones granted later").check()
    page.get_by_label("Credential problem").check()
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_text("Subscription saved.").wait_for()

    identity = stack.identities[0]
    run = stack.control("POST", f"identities/{identity.webadmit_id}/runs")["export_files"]["id"]
    # Seen running first (no mail for that), then finished.
    eventually(lambda: identity.files.filter(webadmit_id=run).exists(), 60, "the new run to be listed")
    stack.control("POST", f"files/{run}", status="Available")
    message = eventually(lambda: smtp.received(), 90, "the mail")[0]
    assert str(message["Subject"]).strip().startswith("Ready: ")
    assert str(message["To"]) == stack.user.email
    text = message.get_body(preferencelist=("plain",)).get_content()
    link = f"{stack.base_url}/files/{identity.files.get(webadmit_id=run).pk}/"
    assert link in text
    page.goto(link)  # the mail's link opens the file's page, its Download ready
    page.locator("#timeline").wait_for()
    assert page.locator("a.btn--primary", has_text="Download").is_visible()

    page.goto(f"{stack.base_url}/notifications/")
    page.get_by_role("cell", name="Sent").first.wait_for()
    screenshot(page, "notifications-light", also=_docs_copy("notifications-light"))
    page.emulate_media(color_scheme="dark")
    screenshot(page, "notifications-dark", also=_docs_copy("notifications-dark"))

    phone = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True)
    try:
        tab = phone.new_page()
        sign_in(tab, stack.base_url, stack.user.username, stack.password)
        tab.goto(f"{stack.base_url}/notifications/")
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
        screenshot(tab, "notifications-phone", also=_docs_copy("notifications-phone"))
    finally:
        phone.close()
    assert len(smtp.received()) == 1


def test_a_stuck_run_is_marked_on_its_recent_files_row(stack, page, browser):
    from datetime import timedelta

    from webadmit_dash.core.models import ExportFile

    running = ExportFile.objects.filter(status__in=["initializing", "queued", "in_progress"]).first()
    assert running is not None, "the simulated world has a running file"
    ExportFile.objects.filter(pk=running.pk).update(first_seen_at=timezone.now() - timedelta(hours=3, minutes=5))
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    mark = page.locator(f"#file-{running.pk} .file__stuck")
    assert mark.inner_text() == "Stuck for 3 h 5 min"
    mark.scroll_into_view_if_needed()
    screenshot(page, "recent-files-stuck-light", full_page=False)
    phone = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True, color_scheme="dark")
    try:
        tab = phone.new_page()
        sign_in(tab, stack.base_url, stack.user.username, stack.password)
        tab.locator(f"#file-{running.pk}").scroll_into_view_if_needed()
        assert tab.locator(f"#file-{running.pk} .file__stuck").is_visible()
        box = tab.locator(f"#file-{running.pk} .file__stuck").bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]  # the mark fits on a phone's row
        screenshot(tab, "recent-files-stuck-phone", full_page=False)
    finally:
        phone.close()
