"""The per-export page and the Schedules page in Chromium (no CSP violation), a schedule added through the form,
and their pictures at a laptop's 1366 by 768 and a phone's width, looked at before they are kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.browser import PHONE, screenshot, sign_in
from webadmit_dash.core.models import Export
from webadmit_dash.schedules import dispatch
from webadmit_dash.schedules.models import Schedule

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}


def _with_history(export: Export) -> None:
    """Two schedules, one of which started a run (the simulator over HTTP) and one that was missed too long ago."""
    weekdays = Schedule.objects.create(export=export, kind="weekdays", times="06:00, 13:00")
    Schedule.objects.create(export=export, kind="cron", cron="30 1 * * *")
    now = timezone.now()
    Schedule.objects.filter(pk=weekdays.pk).update(next_run_at=now - timedelta(minutes=1))
    dispatch.dispatch(now)
    late = Schedule.objects.create(export=export, kind="daily", times="07:00", enabled=True)
    Schedule.objects.filter(pk=late.pk).update(next_run_at=now - timedelta(hours=30))
    dispatch.dispatch(now)


@pytest.mark.parametrize(("name", "viewport"), [("export-page", LAPTOP), ("export-page-phone", PHONE)])
def test_export_page_and_its_form(stack, page, name, viewport):
    export = Export.objects.filter(identity=stack.identities[0]).order_by("pk").first()
    assert export is not None
    _with_history(export)
    page.set_viewport_size(viewport)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/exports/{export.pk}/")

    assert page.get_by_role("heading", name=export.name).is_visible()
    assert page.locator("table.schedules tbody tr").count() == 3
    assert page.get_by_text("Schedule: Weekdays at 06:00 and 13:00").first.is_visible()
    screenshot(page, name, full_page=True)

    page.get_by_label("Cron expression", exact=True).check()
    page.locator("#id_cron").fill("60 6 * * *")
    page.get_by_role("button", name="Add schedule").click()
    assert page.get_by_text("“60 6 * * *” is not a cron expression").is_visible()
    if viewport is LAPTOP:
        screenshot(page, f"{name}-refused", full_page=False)
    page.locator("#id_cron").fill("0 6 * * 1-5")
    page.get_by_role("button", name="Add schedule").click()
    assert page.get_by_text("Added the schedule: At 06:00, Monday through Friday").is_visible()
    assert Schedule.objects.filter(export=export, cron="0 6 * * 1-5", created_by=stack.user).exists()


@pytest.mark.parametrize(("name", "viewport"), [("schedules-page", LAPTOP), ("schedules-page-phone", PHONE)])
def test_schedules_page(stack, page, name, viewport):
    for identity in stack.identities[:2]:
        export = Export.objects.filter(identity=identity).order_by("pk").first()
        assert export is not None
        _with_history(export)
    page.set_viewport_size(viewport)
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.get_by_role("link", name="Schedules").first.click()

    assert page.get_by_role("heading", name="Schedules").is_visible()
    assert page.locator("table.schedules tbody tr").count() == 6
    screenshot(page, name, full_page=True)
