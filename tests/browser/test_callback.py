"""WebAdMIT's callback turns the badge, in Chromium, with the real worker and the simulator: a run started here
(by a schedule firing in the worker's beat, or Run again on the page) with WEBADMIT_CALLBACKS on and SITE_URL at the
live server appears with "WebAdMIT will call back"; when the simulator finishes it, it calls back, and the badge
turns Available within 5 s of the call. The identity's cadence is 120 s throughout, so only the callback can have
turned it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.browser import screenshot, sign_in
from tests.support.waiting import eventually
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.core.models import ExportFile, RunRequest, UserIdentity
from webadmit_dash.schedules.models import Schedule, ScheduledRun

pytestmark = [pytest.mark.browser, pytest.mark.worker]

CADENCE = 120  # seconds: far longer than the test, so the dispatcher never refreshes on its own
WITHIN = 5.0  # seconds from the call to the badge


@pytest.fixture
def slow_engine(stack, settings, live_server):
    """Callbacks on, WebAdMIT told to call the live server; a real worker with beat whose cadences are 120 s."""
    settings.WEBADMIT_CALLBACKS = True
    settings.SITE_URL = live_server.url
    later = timezone.now() + timedelta(seconds=CADENCE)
    UserIdentity.objects.update(fast_interval=CADENCE, slow_interval=CADENCE, next_refresh_at=later)
    purge_queue()
    # The worker starts the schedule's runs: it must ask for callbacks to the live server too.
    env = {"WEBADMIT_DISPATCH_EVERY": "1", "WEBADMIT_CALLBACKS": "true", "SITE_URL": live_server.url}
    worker = CeleryWorker(beat=True, env=env, name="callback-browser-test")
    try:
        yield worker.start()
    finally:
        worker.close()


def _newest_finished_run() -> ExportFile:
    """An Available file that is its export's newest run, so Run again starts a new one."""
    for export_file in ExportFile.objects.filter(status="available").order_by("-webadmit_id"):
        later = ExportFile.objects.filter(
            identity=export_file.identity,
            export_webadmit_id=export_file.export_webadmit_id,
            webadmit_id__gt=export_file.webadmit_id,
        )
        if not later.exists():
            return export_file
    raise AssertionError("the simulated world has no Available file that is its export's newest run")


def test_the_callback_turns_the_badge_within_5_seconds(stack, slow_engine, page):
    finished = _newest_finished_run()
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.locator(f"#rerun-{finished.pk}").click()
    page.get_by_role("button", name="Start a new run").click()

    request = eventually(
        lambda: RunRequest.objects.filter(run__isnull=False).order_by("-pk").first(), timeout=10, what="the run"
    )
    _the_callback_turns_the_badge(stack, page, request, "callback-turns-the-badge")


def test_a_schedule_fires_and_the_callback_turns_its_badge_within_5_seconds(stack, slow_engine, page):
    finished = _newest_finished_run()
    assert finished.export is not None
    schedule = Schedule.objects.create(export=finished.export, kind=Schedule.Kind.DAILY, times="06:00")
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now())  # its time has come

    request = eventually(
        lambda: RunRequest.objects.filter(source=RunRequest.Source.SCHEDULE, run__isnull=False).first(),
        timeout=15,
        what="the schedule's run",
    )
    assert ScheduledRun.objects.get(schedule=schedule).run_request_id == request.pk
    # Runs nobody started on this page are announced ("new files"), not inserted: open the list afresh.
    page.reload()
    _the_callback_turns_the_badge(stack, page, request, "schedule-callback-turns-the-badge")


def _the_callback_turns_the_badge(stack, page, request: RunRequest, picture: str) -> None:
    assert request.callback_token, "the run was started with a callback"
    row = page.locator(f"#file-{request.run_id}")
    row.locator(".file__callback", has_text="WebAdMIT will call back").wait_for(timeout=10_000)
    assert row.locator(".badge").inner_text().strip() in {"Initializing", "Queued", "In Progress"}
    refreshed = UserIdentity.objects.get(pk=request.identity_id).last_attempt_at

    stack.control("POST", f"files/{request.run_webadmit_id}", status="Available")

    called_at = eventually(
        lambda: RunRequest.objects.get(pk=request.pk).callback_received_at, timeout=10, what="the simulator's call"
    )
    row.locator(".badge", has_text="Available").wait_for(timeout=15_000)
    seen = timezone.now()
    took = (seen - called_at).total_seconds()
    assert took <= WITHIN, f"the badge turned {took:.1f} s after the call"
    assert re.fullmatch(r"WebAdMIT called back \d\d:\d\d:\d\d", row.locator(".file__callback").inner_text().strip())
    # Only the callback's refresh ran: the identity was refreshed once since the start, not on its cadence.
    identity = UserIdentity.objects.get(pk=request.identity_id)
    assert identity.last_attempt_at != refreshed
    assert identity.next_refresh_at > seen + timedelta(seconds=CADENCE / 2)
    screenshot(page, picture)
