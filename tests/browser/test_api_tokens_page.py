"""The API tokens page and the Recent Files page's CSV link, in a real browser: light, dark and phone, with no
horizontal scroll, and the new token shown once."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.support.browser import PHONE, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("color_scheme", "viewport"), [("light", None), ("dark", None), ("light", PHONE)])
def test_a_person_makes_a_token_and_sees_it_once(stack, page, color_scheme, viewport):
    if viewport:
        page.set_viewport_size(viewport)
    page.emulate_media(color_scheme=color_scheme)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("New token: what will use it?").fill("SIS reconciliation script")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("The new token").input_value()
    assert token.startswith("wdash_")
    screenshot(page, f"api-tokens-{color_scheme}{'-phone' if viewport else ''}")
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth)"
        ".map(e => e.tagName + '.' + e.className).slice(0, 8)"
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), wide
    page.goto(f"{stack.base_url}/api/tokens/")
    assert token not in page.content()
    assert page.get_by_role("button", name="Revoke SIS reconciliation script").is_visible()


def test_the_recent_files_page_offers_its_list_as_csv(stack, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.select_option("select[name=identity]", index=1)
    page.wait_for_load_state("networkidle")
    link = page.get_by_role("link", name="Export this list (CSV)")
    assert "format=csv" in link.get_attribute("href")
    with page.expect_download() as download:
        link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    header = next(csv.reader(io.StringIO(text)))  # every cell is quoted (issue 19's CSV-injection rules)
    assert header[:2] == ["File id", "Export"]
    screenshot(page, "recent-files-export-link")


@pytest.mark.parametrize(("color_scheme", "viewport"), [("light", None), ("dark", PHONE)])
def test_the_sign_in_page_offers_the_campus_account_beside_the_password(stack, page, settings, color_scheme, viewport):
    settings.OIDC_ENABLED = True
    settings.ROOT_URLCONF = "tests.accounts.oidc_urls"
    if viewport:
        page.set_viewport_size(viewport)
    page.emulate_media(color_scheme=color_scheme)
    page.goto(f"{stack.base_url}/accounts/login/")
    assert page.get_by_role("link", name="Sign in with your campus account").is_visible()
    assert page.get_by_label("Password").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"sign-in-campus-{color_scheme}{'-phone' if viewport else ''}")


def test_the_api_docs_page_renders_from_local_assets(stack, page):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{stack.base_url}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info")
    assert page.get_by_text("/api/v1/files/{file_id}/download").first.is_visible()
    assert all(url.startswith(stack.base_url) for url in requested), [u for u in requested if stack.base_url not in u]
    screenshot(page, "api-docs", full_page=False)
