"""The credential admin in a browser: saving a new key says, in words, what WebAdMIT made of it (rejected, then
accepted), and never shows the key; pictured for a person to look at."""

from __future__ import annotations

import pytest

from tests.support.browser import screenshot, sign_in
from tests.support.stack import SIMULATOR_KEY
from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.core.problems import ErrorKind

pytestmark = pytest.mark.browser

WRONG_KEY = "0123456789abcdef0123456789abcdef"


def test_saving_a_key_says_what_webadmit_made_of_it(stack, page):
    credential = stack.credential
    Credential.objects.filter(pk=credential.pk).update(health=Credential.Health.KEY_REJECTED)
    UserIdentity.objects.filter(credential=credential).update(
        paused=True, error_kind=ErrorKind.KEY_REJECTED, error_message="WebAdMIT rejected the API key."
    )
    paused = len(stack.identities)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    change = f"{stack.base_url}/admin/dashboard/credential/{credential.pk}/change/"

    page.goto(change)
    stack.control("POST", "faults", kind="unavailable", endpoint="E1", times=1)
    page.get_by_label("API key").fill(SIMULATOR_KEY)
    page.get_by_role("button", name="Save and continue editing").click()
    unchecked = page.locator(".messagelist .warning")
    unchecked.wait_for()
    assert unchecked.inner_text().startswith(
        "WebAdMIT could not be reached (503): the key is saved and will be checked again at "
    )
    screenshot(page, "credential-admin-key-not-checked", full_page=False)
    assert UserIdentity.objects.filter(credential=credential, paused=True).count() == paused

    page.get_by_label("API key").fill(WRONG_KEY)
    page.get_by_role("button", name="Save and continue editing").click()
    rejected = page.locator(".messagelist .error")
    rejected.wait_for()
    assert rejected.inner_text() == (
        f"WebAdMIT rejected this key (401): its {paused} identities stay paused until a key is accepted. "
        "Check the key in WebAdMIT and enter it again."
    )
    assert "changed successfully" not in page.content() and WRONG_KEY not in page.content()
    screenshot(page, "credential-admin-key-rejected", full_page=False)

    page.get_by_label("API key").fill(SIMULATOR_KEY)
    page.get_by_role("button", name="Save and continue editing").click()
    accepted = page.locator(".messagelist .success")
    accepted.wait_for()
    assert accepted.inner_text() == f"WebAdMIT accepted the key: {paused} identities will refresh again."
    assert SIMULATOR_KEY not in page.content()
    screenshot(page, "credential-admin-key-accepted", full_page=False)
    assert not UserIdentity.objects.filter(credential=credential, paused=True).exists()
