"""Issue 23's admin work in a real browser: granting many identities to a group (the action's page, the group's
rules), the audit lists by name, the webhook form keeping its address; the new API token's Copy button (clipboard,
and the fallback that selects the text); and Run again's dialog naming the file for screen readers."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group

from tests.support.browser import PHONE, screenshot, sign_in
from webadmit_dash.core.models import ExportFile, GroupGrantRule, IdentityGrant

pytestmark = pytest.mark.browser


def make_token(page, base_url: str) -> str:
    page.goto(f"{base_url}/api/tokens/")
    page.get_by_label("New token: what will use it?").fill("SIS reconciliation script")
    page.get_by_role("button", name="Create token").click()
    return page.get_by_label("The new token").input_value()


@pytest.mark.parametrize(("color_scheme", "viewport"), [("light", None), ("dark", PHONE)])
def test_copy_puts_the_new_token_on_the_clipboard_and_says_so(stack, page, color_scheme, viewport):
    if viewport:
        page.set_viewport_size(viewport)
    page.emulate_media(color_scheme=color_scheme)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.base_url)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    token = make_token(page, stack.base_url)

    page.get_by_role("button", name="Copy the new token").click()

    page.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == token
    screenshot(page, f"api-token-copied-{color_scheme}{'-phone' if viewport else ''}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_without_the_clipboard_copy_selects_the_token_for_ctrl_c(stack, page):
    page.context.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined});")
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    token = make_token(page, stack.base_url)

    page.get_by_role("button", name="Copy the new token").click()

    page.get_by_text("press Ctrl+C").wait_for()
    selected = page.evaluate(
        "(() => { const f = document.activeElement; return f.value.slice(f.selectionStart, f.selectionEnd); })()"
    )
    assert selected == token


def test_run_agains_dialog_names_the_file(stack, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    button = page.get_by_role("button", name=re.compile(r"^Run again: ")).first
    file_name = (button.get_attribute("aria-label") or "").removeprefix("Run again: ")
    assert file_name

    button.click()

    confirm = page.get_by_role("button", name=f"Start a new run of {file_name}", exact=True)
    assert confirm.is_visible()
    screenshot(page, "run-again-dialog-named")
    page.get_by_role("button", name="Cancel").click()


def test_an_administrator_grants_identities_to_a_group_in_two_ways(stack, page):
    group = Group.objects.create(name="PTCAS readers")
    first = stack.identities[0]
    sign_in(page, stack.base_url, stack.user.username, stack.password)

    # The identity list's action: select, choose the action, then the group on the page it opens.
    page.goto(f"{stack.base_url}/admin/dashboard/useridentity/")
    page.locator("#action-toggle").check()
    page.select_option("select[name=action]", "grant_to_group")
    page.get_by_role("button", name="Go").click()
    page.get_by_text("Every member of the group you choose").wait_for()
    screenshot(page, "admin-grant-identities-choose-group")
    page.select_option("select[name=group]", label="PTCAS readers")
    page.get_by_role("button", name="Let this group see them").click()
    page.get_by_text("may now see").wait_for()
    assert IdentityGrant.objects.filter(group=group).count() == len(stack.identities)
    screenshot(page, "admin-grant-identities-done")

    # A rule on the group's page.
    page.goto(f"{stack.base_url}/admin/auth/group/{group.pk}/change/")
    page.locator("input[name='identity_grant_rules-0-association']").fill(first.association)
    page.locator("input[name='identity_grant_rules-0-cycle']").fill(first.cycle)
    screenshot(page, "admin-group-rules")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was changed successfully").wait_for()
    assert GroupGrantRule.objects.filter(group=group, association=first.association).exists()
    page.goto(f"{stack.base_url}/admin/dashboard/groupgrantrule/")
    screenshot(page, "admin-group-grant-rules")


def test_audit_and_identity_pages_in_the_admin(stack, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    # A download recorded through the page (refused or not, it is audited).
    page.goto(f"{stack.base_url}/")
    page.locator("a[id^=download-]").first.click()
    page.goto(f"{stack.base_url}/admin/dashboard/downloadevent/")
    assert page.locator("select[name=action]").count() == 0 or "delete_selected" not in (
        page.locator("select[name=action]").inner_html()
    )
    screenshot(page, "admin-download-events")
    page.goto(f"{stack.base_url}/admin/dashboard/useridentity/{stack.identities[0].pk}/change/")
    assert page.locator("input[name=association]").count() == 0
    assert page.locator("input[name=label]").count() == 1
    screenshot(page, "admin-identity-read-only-fields")


def test_the_webhook_form_keeps_the_address_after_an_error(stack, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/admin/notifications/webhook/add/")
    page.get_by_label("Name").fill("Ops")
    page.get_by_label("Address").fill("https://hooks.example.com/ops")
    page.get_by_label("Signing secret").fill("short")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Use at least 16 characters").wait_for()
    assert page.get_by_label("Address").input_value() == "https://hooks.example.com/ops"
    assert page.get_by_label("Signing secret").input_value() == ""
    screenshot(page, "admin-webhook-error-keeps-address")


@pytest.mark.parametrize(("color_scheme", "viewport"), [("light", None), ("dark", PHONE)])
def test_a_number_naming_two_files_asks_which_one(stack, page, color_scheme, viewport):
    ours = ExportFile.objects.filter(identity=stack.identities[0]).order_by("pk").first()
    theirs = ExportFile.objects.filter(identity=stack.identities[1]).order_by("pk").first()
    ExportFile.objects.filter(pk=theirs.pk).update(webadmit_id=ours.pk)
    if viewport:
        page.set_viewport_size(viewport)
    page.emulate_media(color_scheme=color_scheme)
    sign_in(page, stack.base_url, stack.user.username, stack.password)

    page.goto(f"{stack.base_url}/files/{ours.pk}/")

    page.get_by_role("heading", name="Which file did you mean?").wait_for()
    assert page.get_by_role("link", name=f"File {ours.webadmit_id}").is_visible()
    screenshot(page, f"which-file-{color_scheme}{'-phone' if viewport else ''}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_role("link", name=f"File {ours.pk}").click()
    page.wait_for_url(f"**/files/{theirs.pk}/")
