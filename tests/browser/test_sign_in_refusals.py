"""Sign-ins this site refuses, in a real browser: a campus account named like the local superuser comes back to
the sign-in page saying why, and wrong old passwords on the password form end in the lockout page."""

from __future__ import annotations

import pytest

from tests.support.browser import screenshot, sign_in
from tests.support.oidc_provider import OIDCProvider, configure_sign_in_with

pytestmark = pytest.mark.browser


def test_a_campus_account_named_like_the_local_superuser_comes_back_to_the_sign_in_page_saying_why(
    stack, page, settings
):
    with OIDCProvider("webadmit-dash", "provider-secret-for-tests") as provider:
        configure_sign_in_with(provider, settings)
        provider.sign_in_as(sub="u-1", preferred_username=stack.user.username, email="someone@elsewhere.example")
        page.goto(f"{stack.base_url}/accounts/login/")
        page.get_by_role("link", name="Sign in with your campus account").click()
        page.wait_for_url(f"{stack.base_url}/accounts/login/")
        message = page.get_by_text(f"“{stack.user.username}” is an account of this site with its own password")
        assert message.is_visible()
        screenshot(page, "sign-in-refused-local-account")
    stack.user.refresh_from_db()
    assert stack.user.email == "morgan@example.edu"


def test_wrong_old_passwords_on_the_password_form_end_in_the_lockout_page(stack, page, settings):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    for _ in range(settings.LOGIN_FAILURES_ALLOWED + 1):
        page.goto(f"{stack.base_url}/accounts/password/")
        page.get_by_label("Old password").fill("not-the-password")
        page.get_by_label("New password", exact=True).fill("a-much-longer-passphrase-7c1d")
        page.get_by_label("New password confirmation").fill("a-much-longer-passphrase-7c1d")
        page.get_by_role("button", name="Change password").click()
    assert page.get_by_role("heading", name="Sign-in paused").is_visible()
    screenshot(page, "password-change-locked-out")
    page.get_by_role("link", name="Back to Preferences").click()
    page.wait_for_url(f"{stack.base_url}/preferences/")
