"""The README's pictures: the Recent Files page (light, dark and phone) and a file's page. Each is looked at before
it is kept.

Copies land in docs/screenshots/ only when UPDATE_SCREENSHOTS=1, so an ordinary test run leaves the tree clean.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.support.browser import PHONE, screenshot, sign_in
from tests.support.names import give_long_names
from webadmit_dash.core.models import ExportFile, StatusChange, UserIdentity
from webadmit_dash.engine import refresh

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _docs_copy(name: str) -> Path | None:
    return DOCS / f"{name}.png" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None


def _as_if_running_for_a_while(stack) -> ExportFile:
    """Every status on show, a failure already re-run well, and files dated as a dashboard running for days would
    have them. Returns a file with a history worth a picture (queued, in progress, available)."""
    files = [state for identity in stack.identities for state in stack.world.files(identity.webadmit_id)]
    available = [state for state in files if state.status == "available"]
    stack.control("POST", f"files/{available[0].id}", status="Success With Errors")
    stack.control("POST", f"files/{available[1].id}", status="In Progress")
    # A run that failed, then ran well when someone ran it again.
    first = stack.identities[0]
    forced = {available[0].export_id, available[1].export_id}
    rerun_of = next(state for state in stack.world.files(first.webadmit_id) if state.export_id not in forced)
    stack.control("POST", f"files/{rerun_of.id}", status="Failed")
    for identity in stack.identities:
        refresh.refresh_identity(identity.pk)
    again = stack.control("POST", f"identities/{first.webadmit_id}/runs", export_id=rerun_of.export_id)
    stack.control("POST", f"files/{again['export_files']['id']}", status="Available")
    for identity in stack.identities:
        refresh.refresh_identity(identity.pk)
    now = timezone.now()
    for identity in stack.identities:
        for state in stack.world.files(identity.webadmit_id):
            started = datetime.fromtimestamp(state.started_at, tz=UTC)
            if state.status in ("initializing", "queued", "in_progress"):
                # The simulator's slow pace leaves unfinished runs hours old; real ones take minutes.
                started = now - timedelta(minutes=3 + state.id % 17)
            elif state.id == again["export_files"]["id"]:
                started = now - timedelta(minutes=50)
            age = now - started
            changed = started + min(age / 3, timedelta(minutes=25))
            ExportFile.objects.filter(identity=identity, webadmit_id=state.id).update(
                first_seen_at=started, status_changed_at=changed
            )
            StatusChange.objects.filter(export_file__identity=identity, export_file__webadmit_id=state.id).update(
                changed_at=changed
            )
    UserIdentity.objects.update(last_success_at=now - timedelta(seconds=40))
    # The re-run's history, as a refresher watching it would have seen it: queued, in progress, then available.
    shown = ExportFile.objects.get(identity=first, webadmit_id=again["export_files"]["id"])
    StatusChange.objects.filter(export_file=shown).delete()
    steps = [("", "queued", 0), ("queued", "in_progress", 3), ("in_progress", "available", 14)]
    for old, new, minutes in steps:
        StatusChange.objects.create(
            export_file=shown,
            old_status=old,
            new_status=new,
            raw_status=new.replace("_", " ").title(),
            changed_at=shown.first_seen_at + timedelta(minutes=minutes),
        )
    ExportFile.objects.filter(pk=shown.pk).update(status_changed_at=shown.first_seen_at + timedelta(minutes=14))
    return shown


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
    assert page.locator(".file--superseded .note--rerun").count() >= 1
    # A phone picture shows the first screen, as someone opening the page would see it.
    screenshot(page, name, full_page=viewport is None, also=_docs_copy(name))


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
@pytest.mark.parametrize(
    ("size", "viewport"),
    [("laptop", {"width": 1366, "height": 768}), ("wide", {"width": 1920, "height": 1080}), ("phone", PHONE)],
)
def test_long_names_screenshot(stack, page, size, viewport, color_scheme):
    """Real names, as long as offices make them, on the screens offices have: the first screen each shows."""
    _as_if_running_for_a_while(stack)
    give_long_names()
    page.set_viewport_size(viewport)
    page.emulate_media(color_scheme=color_scheme)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.wait_for_selector("table.files tbody tr")
    name = f"long-names-{size}-{color_scheme}"
    screenshot(page, name, full_page=False, also=_docs_copy(name))


def test_file_page_screenshot(stack, page):
    shown = _as_if_running_for_a_while(stack)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/files/{shown.pk}/")
    assert page.locator("#timeline li").count() == 3
    assert page.locator("#siblings tbody tr").count() >= 2
    screenshot(page, "file-page", full_page=True, also=_docs_copy("file-page"))


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
