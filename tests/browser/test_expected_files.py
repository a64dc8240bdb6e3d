"""The watchdog's banner on Recent Files, in Chromium: open misses above the list, each linking to its export's
runs, under the strict CSP (the page fixture fails on any violation). The test saves screenshots under
tests/artifacts/."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from tests.support.browser import PHONE, screenshot, sign_in
from webadmit_dash.core.models import Export
from webadmit_dash.schedules.models import Expectation, Missing

pytestmark = pytest.mark.browser


def test_open_misses_are_shown_above_the_list(stack, page):
    today = timezone.localtime().replace(hour=7, minute=0, second=0, microsecond=0)
    exports = list(Export.objects.filter(identity__in=stack.identities[:2]).order_by("pk"))[:2]
    for offset, export in enumerate(exports):
        expectation = Expectation.objects.create(export=export, by_time=time(7 + offset), days="weekdays")
        Missing.objects.create(expectation=expectation, expected_by=today + timedelta(hours=offset), detected_at=today)

    sign_in(page, stack.base_url, stack.user.username, stack.password)
    banner = page.locator("#misses .banner")
    banner.wait_for()
    assert banner.locator(".banner__title").inner_text() == "2 expected files have not come"
    first = banner.locator(".misses__item").first
    assert first.inner_text().startswith(f"Expected by 07:00, nothing yet: {exports[0].name} · ")
    # Above the freshness strip and the list.
    assert banner.bounding_box()["y"] < page.locator("#sources").bounding_box()["y"]
    screenshot(page, "expected-files-banner")
    page.set_viewport_size(PHONE)
    screenshot(page, "expected-files-banner-phone", full_page=False)

    first.get_by_role("link").click()
    page.wait_for_url(f"**/?identity={exports[0].identity_id}&q=*")
    assert page.locator("#id_q").input_value() == exports[0].name
