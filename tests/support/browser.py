"""Driving Debian's Chromium with Playwright, for the browser tests.

    from tests.support.browser import browser, page  # in a conftest.py: re-exports the fixtures

Every test using `page` fails on any Content-Security-Policy violation (see watch_csp). So `wait_for_function`
takes a function ("() => ..."), never a bare expression: Playwright evals a bare expression in the page on each
poll, which the CSP refuses whenever the condition is not already true at the first look (a flaky failure).

Playwright cannot download its own browser here, so it launches /usr/bin/chromium. Without it the browser tests are
skipped on a laptop (with the command that installs it) and fail in CI, where a skip would hide them.
"""

from __future__ import annotations

import contextlib
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


# Runs in every document before the page's own scripts: the browser raises securitypolicyviolation for whatever
# the Content-Security-Policy refused (an inline script or style, eval, a foreign URL), and this says it on the
# console, where watch_csp() hears it beside Chromium's own "Refused to ..." console errors.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.effectiveDirective + " refused " + (event.blockedURI || "inline code")
    + " in " + event.sourceFile + ":" + event.lineNumber + (event.sample ? " (" + event.sample + ")" : ""));
}, true);
"""
_CSP_MESSAGE = re.compile(r"Content Security Policy|CSP violation", re.I)


def watch_csp(context) -> list[str]:
    """Collects every CSP violation in the context's pages (their securitypolicyviolation events and Chromium's
    console errors about the policy) into the list returned; the `page` fixture fails its test on any."""
    violations: list[str] = []
    context.add_init_script(script=_REPORT_CSP_VIOLATIONS)

    def heard(message) -> None:
        if message.type == "error" and _CSP_MESSAGE.search(message.text):
            violations.append(f"{message.text} (on {message.page.url if message.page else '?'})")

    context.on("console", heard)
    return violations


_violations_by_page: dict[int, list[str]] = {}


def csp_violations(page) -> list[str]:
    """The CSP violations the `page` fixture has heard so far (a test that provokes one on purpose clears it)."""
    return _violations_by_page[id(page)]


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh browser context (no cookies) with a desktop-sized window; closed after the test.

    Every browser test runs under the site's Content-Security-Policy and fails on any violation of it, so a page
    that needs an inline script or style (or eval) fails here, not in production.
    """
    context = browser.new_context(viewport=DESKTOP, locale="en-US", accept_downloads=True)
    context.set_default_timeout(15_000)
    violations = watch_csp(context)
    tab = context.new_page()
    _violations_by_page[id(tab)] = violations
    try:
        yield tab
        for open_page in context.pages:
            # A round trip to each page lets console messages still on their way arrive before the check.
            with contextlib.suppress(Exception):
                open_page.evaluate("0")
    finally:
        context.close()
        _violations_by_page.pop(id(tab), None)
    if violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(violations), pytrace=False)


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
