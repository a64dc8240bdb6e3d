"""Relative times age in the browser (issue 24): "3 min ago" becomes "4 min ago" a minute later with no new render
from the server, so the minute turning makes no open tab ask for one; every poll meanwhile answers 204."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.support.browser import sign_in
from webadmit_dash.core.models import ExportFile

pytestmark = pytest.mark.browser


def test_three_min_ago_becomes_four_min_ago_without_a_render(stack, page):
    seen = timezone.now() - timedelta(minutes=3, seconds=5)
    export_file = ExportFile.objects.filter(status="available").order_by("pk").first()
    assert export_file is not None, "the simulated world has an Available file"
    ExportFile.objects.filter(pk=export_file.pk).update(first_seen_at=seen, status_changed_at=seen)

    polls: list[int] = []
    page.on("response", lambda response: polls.append(response.status) if "/files/poll/" in response.url else None)
    page.clock.install()  # the page's Date and timers, moved on below; the server keeps the real time
    sign_in(page, stack.base_url, stack.user.username, stack.password)

    row = page.locator(f"#file-{export_file.pk}")
    seen_ago = row.locator(".file__seen time[data-rel='ago']")
    finished_ago = row.locator(".file__since time[data-rel='ago']")
    expect(seen_ago).to_have_text("3 min ago")
    expect(finished_ago).to_have_text("3 min ago")

    page.clock.run_for("01:00")  # a minute of the page's timers: its polls, and the times' own clock

    expect(seen_ago).to_have_text("4 min ago")
    expect(finished_ago).to_have_text("4 min ago")
    page.wait_for_load_state("networkidle")
    assert polls, "the page polled during the minute"
    assert set(polls) == {204}, polls
