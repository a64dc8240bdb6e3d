"""Sorting and searching Recent Files in Chromium, with the real worker and the simulated WebAdMIT: each column
header sorts (and reverses), the pager keeps the order, and the search finds files by CAS and by cycle."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support.browser import screenshot, sign_in
from tests.web.test_sorting import expected
from webadmit_dash.core.models import ExportFile
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.web.pagination import PAGE_SIZE

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def world() -> SimulatedWorld:
    # More files than a page, so the pager is crossed in every order; statuses move only when a test forces them.
    return SimulatedWorld(seed=11, identities=5, files_per_identity=14, pace=86_400, new_run_every=None)


def _rows_become(page, ids: list[int]) -> None:
    wanted = [f"file-{pk}" for pk in ids]
    shown = "JSON.stringify([...document.querySelectorAll('#files-body tr')].map(r => r.id))"
    try:
        page.wait_for_function(f"() => {shown} === {json.dumps(json.dumps(wanted))}")
    except PlaywrightTimeout:
        assert json.loads(page.evaluate(f"() => {shown}")) == wanted


def _header(page, label: str):
    return page.locator("#results thead a.sort").filter(has_text=re.compile(f"^{label}[▲▼↕]?:"))


def test_each_column_sorts_both_ways_pages_on_and_the_search_finds_cas_and_cycle(stack, engine, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    assert ExportFile.objects.count() > PAGE_SIZE
    columns = [
        ("Export", "export"),
        ("Identity", "identity"),
        ("Status", "status"),
        ("Finished", "-finished"),
        ("First seen", "-first_seen"),
    ]
    for label, sort in columns:
        header = _header(page, label)
        # Keyboard reachable: focus the header's link and press Enter.
        header.focus()
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(rf"sort={re.escape(sort)}(&|$)"))
        _rows_become(page, expected(sort)[:PAGE_SIZE])
        th = _header(page, label).locator("xpath=ancestor::th")
        assert th.get_attribute("aria-sort") == ("descending" if sort.startswith("-") else "ascending")
        # Its words say the order, and what choosing it again does.
        name = _header(page, label).evaluate("a => a.textContent")
        assert "sorted by" in name and "choose to sort by" in name
        # Again: the other way round.
        reverse = sort[1:] if sort.startswith("-") else f"-{sort}"
        _header(page, label).click()
        page.wait_for_url(re.compile(rf"sort={re.escape(reverse)}(&|$)"))
        _rows_become(page, expected(reverse)[:PAGE_SIZE])

    # Sorted by export, A to Z: the picture, then the second page in the same order.
    _header(page, "Export").click()  # from -export (the last reversal of the loop was -first_seen): A to Z
    page.wait_for_url(re.compile(r"sort=export(&|$)"))
    _rows_become(page, expected("export")[:PAGE_SIZE])
    page.set_viewport_size({"width": 1366, "height": 768})
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "recent-files-sorted-by-export", full_page=False)
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r"after=.*sort=export|sort=export.*after="))
    _rows_become(page, expected("export")[PAGE_SIZE : 2 * PAGE_SIZE])
    assert page.locator("#id_sort").input_value() == "export"

    # The search: a CAS, then a cycle; the order stays.
    page.locator("#id_q").fill("PTCAS")
    page.wait_for_url(re.compile(r"q=PTCAS"))
    ptcas = set(ExportFile.objects.filter(identity__association="PTCAS").values_list("pk", flat=True))
    assert ptcas
    _rows_become(page, [pk for pk in expected("export") if pk in ptcas][:PAGE_SIZE])
    page.locator("#id_q").fill("2025 - 2026")
    page.wait_for_url(re.compile(r"q=2025"))
    cycle = set(ExportFile.objects.filter(identity__cycle="2025 - 2026").values_list("pk", flat=True))
    assert cycle and cycle != ptcas
    _rows_become(page, [pk for pk in expected("export") if pk in cycle][:PAGE_SIZE])
    assert all("2025 - 2026" in text for text in page.locator("#files-body .file__identity").all_inner_texts())

    # On a phone the headers are hidden: the order is a select among the filters (behind the Filters button).
    assert not page.locator("#sort-field").is_visible()  # a laptop sorts by the headers
    page.set_viewport_size({"width": 390, "height": 844})
    assert not page.get_by_label("Order").is_visible()
    page.get_by_role("button", name="Filters").click()
    assert page.get_by_label("Order").is_visible()
    page.get_by_label("Order").select_option("-finished")
    page.wait_for_url(re.compile(r"sort=-finished"))
    _rows_become(page, [pk for pk in expected("-finished") if pk in cycle][:PAGE_SIZE])
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "recent-files-phone-order-select", full_page=False)
