"""Driving Debian's Chromium with Playwright, for the browser tests.

    from tests.support.browser import browser, page  # in a conftest.py: re-exports the fixtures

Playwright cannot download its own browser here, so it launches /usr/bin/chromium. Without it the browser tests
are skipped on a laptop (with the command that installs it) and fail in CI, where a skip would hide them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
DESKTOP = {"width": 1360, "height": 900}
PHONE = {"width": 390, "height": 844}


def require_chromium() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    message = f"Chromium is not installed at {CHROMIUM}: sudo apt-get install chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true, so this is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = require_chromium()
    # Playwright's sync API runs an event loop in this thread; Django would refuse database calls from it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh browser context (no cookies) with a desktop-sized window; closed after the test."""
    context = browser.new_context(viewport=DESKTOP, locale="en-US", accept_downloads=True)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def screenshot(page, name: str, *, full_page: bool = True, also: Path | None = None) -> Path:
    """Saves a PNG under tests/artifacts/ (git-ignored), and a copy at `also` when given."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    # Animations (the in-progress sheen, the update flash) are stopped, so a picture shows the resting state.
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    if also is not None:
        also.parent.mkdir(parents=True, exist_ok=True)
        also.write_bytes(path.read_bytes())
    return path


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")
