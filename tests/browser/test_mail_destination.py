"""Without a mail server, the Notifications page says where a mail went ("Written to …") instead of "Sent", readable
on a desktop and a phone (issue 19, point 13)."""

from __future__ import annotations

import pytest

from tests.support.browser import PHONE, screenshot, sign_in
from tests.support.factories import subscribe
from webadmit_dash.core.models import UserIdentity
from webadmit_dash.engine.refresh import refresh_identity
from webadmit_dash.notifications import delivery, fanout

pytestmark = pytest.mark.browser


def refresh(identity: UserIdentity) -> None:
    UserIdentity.objects.filter(pk=identity.pk).update(refreshing_until=None)
    refresh_identity(identity.pk)


def test_a_mail_written_to_a_file_is_shown_as_written_there(stack, page, browser, settings, tmp_path):
    settings.EMAIL_HOST = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    subscribe(stack.user)
    identity = stack.identities[0]
    run = stack.control("POST", f"identities/{identity.webadmit_id}/runs")["export_files"]["id"]
    refresh(identity)
    stack.control("POST", f"files/{run}", status="Available")
    refresh(identity)
    fanout.fan_out()
    delivery.deliver_due()

    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/notifications/")
    cell = page.get_by_role("cell", name=f"Written to {tmp_path / 'mail'}/ (no mail server configured)")
    cell.wait_for()
    assert page.get_by_role("cell", name="Sent", exact=True).count() == 0
    screenshot(page, "notifications-mail-to-files")
    phone = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True)
    try:
        tab = phone.new_page()
        sign_in(tab, stack.base_url, stack.user.username, stack.password)
        tab.goto(f"{stack.base_url}/notifications/")
        assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(tab, "notifications-mail-to-files-phone")
    finally:
        phone.close()
