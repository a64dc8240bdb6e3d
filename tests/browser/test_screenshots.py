"""The README's pictures of the Recent Files page: light, dark and phone. Each is looked at before it is kept.

Copies land in docs/screenshots/ only when UPDATE_SCREENSHOTS=1, so an ordinary test run leaves the tree clean.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.support.browser import PHONE, screenshot, sign_in
from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.engine import refresh

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _docs_copy(name: str) -> Path | None:
    return DOCS / f"{name}.png" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None


def _as_if_running_for_a_while(stack) -> None:
    """Every status on show, and files dated as a dashboard running for days would have them."""
    files = [state for identity in stack.identities for state in stack.world.files(identity.webadmit_id)]
    available = [state for state in files if state.status == "available"]
    stack.control("POST", f"files/{available[0].id}", status="Success With Errors")
    stack.control("POST", f"files/{available[1].id}", status="In Progress")
    for identity in stack.identities:
        refresh.refresh_identity(identity.pk)
    now = timezone.now()
    for identity in stack.identities:
        for state in stack.world.files(identity.webadmit_id):
            started = datetime.fromtimestamp(state.started_at, tz=UTC)
            if state.status in ("initializing", "queued", "in_progress"):
                # The simulator's slow pace leaves unfinished runs hours old; real ones take minutes.
                started = now - timedelta(minutes=3 + state.id % 17)
            age = now - started
            changed = started + min(age / 3, timedelta(minutes=25))
            ExportFile.objects.filter(identity=identity, webadmit_id=state.id).update(
                first_seen_at=started, status_changed_at=changed
            )
    UserIdentity.objects.update(last_success_at=now - timedelta(seconds=40))


@pytest.mark.parametrize(
    ("name", "color_scheme", "viewport"),
    [
        ("recent-files-light", "light", None),
        ("recent-files-dark", "dark", None),
        ("recent-files-phone", "light", PHONE),
    ],
)
def test_recent_files_screenshot(stack, page, name, color_scheme, viewport):
    _as_if_running_for_a_while(stack)
    if viewport:
        page.set_viewport_size(viewport)
    page.emulate_media(color_scheme=color_scheme)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.wait_for_selector("table.files tbody tr")
    assert "Recent Files" in page.title()
    # A phone picture shows the first screen, as someone opening the page would see it.
    screenshot(page, name, full_page=viewport is None, also=_docs_copy(name))


@pytest.mark.parametrize(
    ("name", "path", "heading"),
    [
        ("identities", "/identities/", "Identities"),
        ("preferences", "/preferences/", "Preferences"),
        ("password-change", "/accounts/password/", "Change password"),
    ],
)
def test_other_pages_screenshot(stack, page, name, path, heading):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(stack.base_url + path)
    assert page.get_by_role("heading", name=heading).is_visible()
    screenshot(page, name)


def test_sign_in_page_screenshot(stack, page):
    page.goto(f"{stack.base_url}/")
    assert page.url.startswith(f"{stack.base_url}/accounts/login/")
    page.get_by_label("User name").fill(stack.user.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    screenshot(page, "sign-in")
