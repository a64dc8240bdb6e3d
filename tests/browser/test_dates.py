"""Dates on Recent Files in Chromium, with the real worker refreshing from the simulated WebAdMIT: stamps that stay
true while the page sits open, the First seen filter (today, yesterday, last 7 days, chosen dates) in the user's
zone, and "New" marks on a second visit.

Screenshots: tests/artifacts/dates-*.png (the list with the filter at 1366x768, light, and on a phone).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.support.browser import PHONE, screenshot, sign_in
from webadmit_dash.core.models import ExportFile, UserPreference

pytestmark = [pytest.mark.browser, pytest.mark.worker]

# Fourteen hours ahead of UTC: a filter that forgot the user's zone picks the wrong day most of the time.
ZONE = ZoneInfo("Pacific/Kiritimati")


def _row_ids(page) -> list[int]:
    ids = page.locator("#results tbody tr").evaluate_all("rows => rows.map(r => r.id)")
    return [int(row_id.removeprefix("file-")) for row_id in ids]


def _wait_for_rows(page, expected: list[int]) -> None:
    page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll('#results tbody tr')].map(r => +r.id.slice(5)))"
        " === JSON.stringify(ids)",
        arg=expected,
        timeout=15_000,
    )


def _dated_world(stack) -> dict[str, ExportFile]:
    """Four of the simulator's files first seen today 00:01, yesterday 12:00, 3 and 10 days ago 12:00 in the user's
    zone; every other one 20 days ago."""
    UserPreference.objects.update_or_create(user=stack.user, defaults={"time_zone": ZONE.key})
    today = timezone.now().astimezone(ZONE).date()
    files = list(ExportFile.objects.filter(gone_at__isnull=True, status="available").order_by("pk")[:4])
    assert len(files) == 4, "the simulated world has four Available files"
    ExportFile.objects.exclude(pk__in=[f.pk for f in files]).update(first_seen_at=timezone.now() - timedelta(days=20))
    dated = {}
    for export_file, (name, days_ago, clock) in zip(
        files,
        [("today", 0, time(0, 1)), ("yesterday", 1, time(12)), ("3 days", 3, time(12)), ("10 days", 10, time(12))],
        strict=True,
    ):
        seen = datetime.combine(today - timedelta(days=days_ago), clock, tzinfo=ZONE)
        ExportFile.objects.filter(pk=export_file.pk).update(first_seen_at=seen)
        export_file.first_seen_at = seen
        dated[name] = export_file
    return dated


def test_dates_read_as_clock_and_ago_filter_by_day_and_mark_what_is_new(stack, engine, page):
    dated = _dated_world(stack)
    today = timezone.now().astimezone(ZONE).date()
    page.clock.install()  # the page's timers and Date, moved on by the test below
    sign_in(page, stack.base_url, stack.user.username, stack.password)

    # Clock time and how long ago, in the user's zone: today's without its day, this week's with its weekday, older
    # ones with their date.
    def seen_text(name: str) -> str:
        return page.locator(f"#file-{dated[name].pk} .file__seen").inner_text().strip()

    assert re.fullmatch(r"00:01 · (\d+ h( \d+ min)?|\d+ min|just now)( ago)?", seen_text("today")), seen_text("today")

    def days_ago(name: str) -> int:  # whole days elapsed, not calendar days: 12:00 three days back at 00:05 is 2
        return int((timezone.now() - dated[name].first_seen_at).total_seconds() // 86_400)

    three = today - timedelta(days=3)
    assert seen_text("3 days") == f"{three.strftime('%a')} 12:00 · {days_ago('3 days')} days ago"
    ten = today - timedelta(days=10)
    assert seen_text("10 days") == f"{ten.day} {ten.strftime('%b')} 12:00 · {days_ago('10 days')} days ago"
    # The relative part stays true while the page sits open: two hours later it says so, without a reload.
    before = seen_text("yesterday")
    hours = int(re.search(r"· (\d+) h", before).group(1)) if " h" in before else None
    page.evaluate("window.__noReload = true")
    page.clock.fast_forward("02:00:00")
    if hours is not None and hours + 2 < 24:
        page.wait_for_function(
            f"document.querySelector('#file-{dated['yesterday'].pk} .file__seen').innerText.includes('{hours + 2} h')"
        )
    assert page.evaluate("window.__noReload === true")
    page.clock.resume()

    when = page.locator("#id_when")
    # The menu says what it dates, to the eye (its options) and to a screen reader (its label).
    assert when.evaluate("el => el.labels[0].querySelector('.field__label').textContent") == "First seen"
    assert when.locator("option:checked").inner_text() == "First seen: any date"
    when.select_option("today")
    _wait_for_rows(page, [dated["today"].pk])
    assert "when=today" in page.url
    when.select_option("yesterday")
    _wait_for_rows(page, [dated["yesterday"].pk])
    when.select_option("7d")
    _wait_for_rows(page, [dated[name].pk for name in ("today", "yesterday", "3 days")])
    assert page.locator("#count-all").inner_text() == "3"

    # Chosen dates: the two date fields appear for "choose dates…" only.
    assert page.locator("#id_seen_from").is_hidden()
    when.select_option("custom")
    page.locator("#id_seen_from").fill((today - timedelta(days=11)).isoformat())
    page.locator("#id_seen_to").fill((today - timedelta(days=2)).isoformat())
    _wait_for_rows(page, [dated["3 days"].pk, dated["10 days"].pk])
    assert f"seen_to={(today - timedelta(days=2)).isoformat()}" in page.url
    page.set_viewport_size({"width": 1366, "height": 768})
    page.emulate_media(color_scheme="light")
    screenshot(page, "dates-filter-1366-light", full_page=False)
    # The wrong way round: said in words, and the list is not narrowed by those dates.
    page.locator("#id_seen_to").fill((today - timedelta(days=12)).isoformat())
    page.get_by_text("The dates are the wrong way round").wait_for()
    # Back to any date: the dates are cleared with it, and every file lists again.
    when.select_option("")
    assert page.locator("#id_seen_from").is_hidden() and page.locator("#id_seen_from").input_value() == ""
    page.wait_for_function("document.querySelectorAll('#results tbody tr').length > 4")

    # A second visit, an hour after the first ended (a new sign-in, as the next morning's would be): what came since
    # is marked New, in words.
    UserPreference.objects.filter(user=stack.user).update(last_seen_at=timezone.now() - timedelta(hours=1))
    ExportFile.objects.filter(pk=dated["today"].pk).update(first_seen_at=timezone.now() - timedelta(minutes=10))
    # Off the page first: its poller, signed out by the cleared cookies, would be sent to the sign-in page (htmx's
    # redirect) while this test signs in there, and a second CSRF cookie would refuse the test's form.
    page.goto("about:blank")
    page.context.clear_cookies()
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    new_row = page.locator(f"#file-{dated['today'].pk}")
    assert new_row.locator(".new-mark").inner_text().startswith("New")
    assert "New since you last looked" in new_row.locator(".file__seen").text_content().replace(":", "")
    assert page.locator(".new-mark", has_text="New").count() == 2  # the row's, and the line's
    page.get_by_text("1 file first seen since you last looked").wait_for()
    page.get_by_role("link", name="Show only that one").click()
    _wait_for_rows(page, [dated["today"].pk])
    assert "seen_after=" in page.url

    page.set_viewport_size(PHONE)
    page.goto(stack.base_url + "/?when=7d")
    screenshot(page, "dates-filter-phone", full_page=False)
    page.goto(f"{stack.base_url}/?seen_from={today - timedelta(days=3)}&seen_to={today}")
    # On a phone the fields wait behind the Filters button, which counts the range among those in force.
    assert page.locator("#id_seen_from").is_hidden()
    assert page.locator(".filters__toggle").inner_text().endswith("· 1 in force")
    page.locator(".filters__toggle").click()
    assert page.locator("#id_seen_from").is_visible()
    screenshot(page, "dates-filter-phone-dates", full_page=False)


def test_clock_times_only_is_chosen_on_preferences_and_shown_everywhere(stack, page):
    dated = _dated_world(stack)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{stack.base_url}/files/{dated['3 days'].pk}/")
    screenshot(page, "dates-file-page", full_page=False)
    page.goto(stack.base_url + "/preferences/")
    page.get_by_label("Clock times only").check()
    screenshot(page, "dates-preferences", full_page=False)
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Preferences saved.").wait_for()
    page.goto(stack.base_url + "/")
    three = timezone.now().astimezone(ZONE).date() - timedelta(days=3)
    assert page.locator(f"#file-{dated['3 days'].pk} .file__seen").inner_text().strip() == f"{three:%a} 12:00"
    assert page.locator("time[data-rel='ago']").count() == 0
