"""The front door in Chromium: the Content-Security-Policy refuses inline code and the shared `page` fixture hears
it; the admin works under the policy; the lockout page says what happened.

Every other browser test also runs under the policy and fails on a violation (tests/support/browser.py).
"""

from __future__ import annotations

import pytest

from tests.support.browser import PHONE, csp_violations, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_the_policy_refuses_inline_code_and_the_test_hears_it(stack, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__inlineRan = true";
            document.body.append(script);
            document.body.insertAdjacentHTML("beforeend", '<p id="styled" style="color: red">x</p>');
        }"""
    )
    page.wait_for_function("() => true")  # one round trip for the console messages
    page.wait_for_timeout(300)
    heard = list(csp_violations(page))
    csp_violations(page).clear()  # provoked on purpose: not this test's failure
    assert page.evaluate("window.__inlineRan === undefined"), "an inline script ran under the policy"
    assert any("script-src" in message for message in heard), heard
    assert any("style-src" in message for message in heard), heard


def test_the_admin_works_under_the_policy(stack, page):
    identity = stack.identities[0]
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    for path in (
        "/admin/",
        "/admin/dashboard/credential/",
        f"/admin/dashboard/credential/{stack.credential.pk}/change/",
        f"/admin/dashboard/useridentity/{identity.pk}/change/",
        "/admin/dashboard/identitygrant/add/",
        "/admin/dashboard/statuschange/",
        "/admin/auth/user/add/",
        "/admin/axes/accessattempt/",
    ):
        page.goto(f"{stack.base_url}{path}")
        assert page.locator("#content").is_visible(), path
    # The identity grant's autocomplete widget (jQuery + select2) works without inline styles or eval.
    page.goto(f"{stack.base_url}/admin/dashboard/identitygrant/add/")
    page.locator(".field-identity .select2-selection").click()
    page.locator(".select2-search__field").fill(identity.cycle[:4])
    page.locator(".select2-results__option").first.wait_for()
    screenshot(page, "admin-under-csp")


def test_the_lockout_page_says_what_happened_and_until_when(stack, page):
    page.goto(f"{stack.base_url}/accounts/login/")
    for _ in range(6):
        page.get_by_label("User name").fill(stack.user.username)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    assert page.get_by_role("heading", name="Sign-in paused").is_visible()
    assert "Even the right password is refused until then." in page.locator("main").inner_text()
    screenshot(page, "locked-out")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "locked-out-phone")


def test_the_identities_table_refetches_at_once_when_the_tab_shows_again(stack, page):
    refetches: list[str] = []
    page.on("request", lambda r: r.headers.get("hx-target") == "identity-table" and refetches.append(r.url))
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/identities/")
    assert page.locator("#identity-table").get_attribute("data-poll-every") == "30"  # nothing is being refreshed
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.wait_for_timeout(300)
    assert refetches == []
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.wait_for_timeout(1000)
    assert len(refetches) == 1, "showing the tab again did not re-fetch the table at once"
