"""The dispatcher on a fake clock over simulated weeks in New York (both 2026 daylight-saving nights), after
downtime, against a spent budget, and twice at once; every run is started by the simulator over HTTP."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from fnmatch import fnmatch

import pytest
from django.db import connection

from tests.engine.test_concurrency import at_once
from tests.schedules.conftest import DispatcherOnAClock, schedule_at
from tests.support.simulated import SimulatorControl
from webadmit_dash.core.models import Credential, Export, RunRequest
from webadmit_dash.schedules import dispatch, signals, tasks, timing
from webadmit_dash.schedules.models import Schedule, ScheduledRun

pytestmark = pytest.mark.django_db(transaction=True)


def walls(start: date, days: int, times: list[str], weekdays_only: bool = False) -> list[str]:
    """What a schedule should run, worked out without timing.py: each day's wall times in New York."""
    found = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if weekdays_only and day.weekday() >= 5:
            continue
        for at in times:
            found.append(datetime.combine(day, time.fromisoformat(at), tzinfo=timing.zone()).isoformat("T", "minutes"))
    return found


def started_slots(schedule: Schedule) -> list[str]:
    runs = ScheduledRun.objects.filter(schedule=schedule).order_by("slot")
    assert {run.outcome for run in runs} <= {ScheduledRun.Outcome.STARTED}
    return [run.slot.astimezone(timing.zone()).isoformat("T", "minutes") for run in runs]


@pytest.mark.parametrize(
    ("first_day", "night", "expected_night"),
    [
        (
            date(2026, 3, 5),  # Thursday; Sunday 8 March springs forward at 02:00
            date(2026, 3, 8),
            ["2026-03-08T01:30-05:00", "2026-03-08T03:00-04:00", "2026-03-08T06:00-04:00"],
        ),
        (
            date(2026, 10, 29),  # Thursday; Sunday 1 November falls back at 02:00
            date(2026, 11, 1),
            ["2026-11-01T01:30-04:00", "2026-11-01T02:30-05:00", "2026-11-01T06:00-05:00"],
        ),
    ],
    ids=["spring", "autumn"],
)
def test_a_week_in_new_york_runs_every_slot_once_across_the_dst_night(
    sim_export: Export, first_day: date, night: date, expected_night: list[str]
) -> None:
    start = datetime.combine(first_day, time(0, 2), tzinfo=timing.zone()).astimezone(UTC)
    daily = schedule_at(sim_export, start, kind="daily", times="01:30, 02:30, 06:00")
    weekdays = schedule_at(sim_export, start, kind="weekdays", times="06:00, 13:00")
    cron = schedule_at(sim_export, start, kind="cron", cron="30 1,2 * * *")
    clock = DispatcherOnAClock(now=start)

    clock.run_until(start + timedelta(days=7))

    dst_day = (night - first_day).days
    three = ["01:30", "02:30", "06:00"]
    before, after = walls(first_day, dst_day, three), walls(night + timedelta(1), 3, three)
    assert started_slots(daily) == before + expected_night + after
    assert started_slots(weekdays) == walls(first_day, 7, ["06:00", "13:00"], weekdays_only=True)
    cron_night = [slot for slot in expected_night if not slot.startswith(f"{night}T06")]
    no_six = [slot for slot in [*before, "night", *after] if "T06" not in slot]
    assert started_slots(cron) == no_six[: no_six.index("night")] + cron_night + no_six[no_six.index("night") + 1 :]
    # Each slot dealt with once, and each start audited like Run again, named by its schedule.
    assert len(clock.dealt) == len(set((d.schedule_id, d.slot) for d in clock.dealt)) == 21 + 10 + 14
    audits = RunRequest.objects.filter(source=RunRequest.Source.SCHEDULE)
    assert audits.count() == 45
    assert Counter(audits.values_list("source_label", flat=True)) == {
        "Every day at 01:30, 02:30 and 06:00": 21,
        "Weekdays at 06:00 and 13:00": 10,
        "At 01:30 and 02:30": 14,
    }
    assert ScheduledRun.objects.filter(run_request__isnull=True).count() == 0


def test_after_five_missed_slots_the_newest_is_started_once(sim_export: Export) -> None:
    start = datetime(2026, 3, 9, 14, 2, tzinfo=UTC)  # 10:02 EDT
    hourly = schedule_at(sim_export, start, kind="cron", cron="0 * * * *")
    clock = DispatcherOnAClock(now=start)
    clock.run_until(start + timedelta(hours=1))  # 11:00 started
    clock.now += timedelta(hours=5)  # stopped: 12:00 to 16:00 missed

    clock.run_until(clock.now + timedelta(minutes=1))

    runs = list(ScheduledRun.objects.filter(schedule=hourly).order_by("slot"))
    assert [(f"{run.slot.astimezone(timing.zone()):%H:%M}", run.outcome) for run in runs] == [
        ("11:00", "started"),
        ("16:00", "started"),  # once, for the newest slot missed, not five times
    ]
    assert runs[1].message.endswith(
        "Started late, once: 5 times were missed while the dashboard was not running, and only the newest was still "
        "useful."
    )
    hourly.refresh_from_db()
    assert hourly.next_run_at is not None and f"{hourly.next_run_at.astimezone(timing.zone()):%H:%M}" == "17:00"
    assert RunRequest.objects.filter(source=RunRequest.Source.SCHEDULE).count() == 2


def test_a_slot_missed_longer_than_the_catch_up_window_is_skipped_once_in_words(sim_export: Export, settings) -> None:
    settings.SCHEDULE_CATCH_UP_HOURS = 6
    start = datetime(2026, 3, 9, 9, tzinfo=UTC)  # Monday 05:00 EDT
    daily = schedule_at(sim_export, start, kind="daily", times="06:00")
    clock = DispatcherOnAClock(now=start + timedelta(days=4, hours=9))  # Friday 14:00: five 06:00s missed

    clock.step()

    (skipped,) = ScheduledRun.objects.filter(schedule=daily)
    assert skipped.outcome == ScheduledRun.Outcome.SKIPPED and skipped.run_request is None
    assert f"{skipped.slot.astimezone(timing.zone()):%a %H:%M}" == "Fri 06:00"
    assert skipped.message == (
        "Not started: its time, Fri 13 Mar 06:00, passed 8 hours ago while the dashboard was not running "
        "(5 times missed in all, none started), more than the 6 hours SCHEDULE_CATCH_UP_HOURS allows. "
        "This time is not tried again; the schedule goes on at Sat 14 Mar 06:00 (America/New_York)."
    )
    assert not RunRequest.objects.exists()
    daily.refresh_from_db()
    assert (daily.last_outcome, daily.last_message) == ("skipped", skipped.message)


def test_within_the_window_the_missed_slot_is_started(sim_export: Export) -> None:
    start = datetime(2026, 3, 9, 9, tzinfo=UTC)
    daily = schedule_at(sim_export, start, kind="daily", times="06:00")
    clock = DispatcherOnAClock(now=start + timedelta(days=2, hours=4))  # Wednesday 09:00: three missed, 3 hours late

    clock.step()
    clock.step()

    assert [(run.outcome, f"{run.slot.astimezone(timing.zone()):%a}") for run in daily.runs.all()] == [
        ("started", "Wed")
    ]


def test_a_spent_budget_refuses_in_words_and_the_schedule_goes_on(sim_export: Export, settings) -> None:
    Credential.objects.filter(pk=sim_export.identity.credential_id).update(rate_limit_per_hour=10)
    settings.WEBADMIT_INTERACTIVE_SHARE = 10  # one interactive call an hour
    start = datetime(2026, 3, 9, 9, 58, tzinfo=UTC)  # 05:58 EDT
    first = schedule_at(sim_export, start, kind="daily", times="06:00")
    second = schedule_at(sim_export, start, kind="weekdays", times="06:00")
    clock = DispatcherOnAClock(now=start)

    clock.run_until(start + timedelta(minutes=5))

    assert first.runs.get().outcome == "started"
    refused = second.runs.get()
    assert refused.outcome == "refused"
    assert refused.message.startswith(
        "Not started: Downloads and runs with credential “Simulated” have used their share of WebAdMIT's hourly call "
        "limit (1 calls an hour)"
    )
    assert refused.message.endswith(
        "This time is not tried again; the schedule goes on at Tue 10 Mar 06:00 (America/New_York)."
    )
    second.refresh_from_db()
    assert second.last_outcome == "refused" and second.next_run_at == datetime(2026, 3, 10, 10, tzinfo=UTC)
    # The refusal is in the same audit as Run again's.
    assert RunRequest.objects.filter(source="schedule", run_webadmit_id__isnull=True).get().message


def test_a_rejected_key_refuses_in_words(sim_export: Export, sim: SimulatorControl) -> None:
    sim.fault("key_rejected", times=5)
    start = datetime(2026, 3, 9, 9, 58, tzinfo=UTC)
    daily = schedule_at(sim_export, start, kind="daily", times="06:00")

    DispatcherOnAClock(now=start).run_until(start + timedelta(minutes=5))

    refused = daily.runs.get()
    assert refused.outcome == "refused" and "Not started:" in refused.message and "key" in refused.message.lower()


def test_a_run_already_under_way_is_recorded_as_the_slots_run(sim_export: Export) -> None:
    start = datetime(2026, 3, 9, 9, 58, tzinfo=UTC)
    first = schedule_at(sim_export, start, kind="daily", times="06:00")
    second = schedule_at(sim_export, start, kind="daily", times="06:00")

    DispatcherOnAClock(now=start).run_until(start + timedelta(minutes=5))

    one, other = first.runs.get(), second.runs.get()
    assert one.outcome == other.outcome == "started"
    assert one.run_request.run_id == other.run_request.run_id  # type: ignore[union-attr]
    assert "was still making run" in other.message


def test_disabled_schedules_are_not_dispatched_and_saving_plans_the_next_slot(sim_export: Export) -> None:
    daily = Schedule.objects.create(export=sim_export, kind="daily", times="06:00", enabled=False)
    assert daily.next_run_at is None
    daily.enabled = True
    daily.save()
    assert daily.next_run_at is not None and daily.next_run_at > datetime.now(UTC)
    assert f"{daily.next_run_at.astimezone(timing.zone()):%H:%M}" == "06:00"


def test_the_signal_counts_each_slot_once(sim_export: Export) -> None:
    heard: list[str] = []

    def hear(sender: object, outcome: str, **kwargs: object) -> None:
        heard.append(outcome)

    signals.scheduled_run_recorded.connect(hear, weak=False)
    try:
        start = datetime(2026, 3, 9, 9, 58, tzinfo=UTC)
        schedule_at(sim_export, start, kind="daily", times="06:00")
        DispatcherOnAClock(now=start).run_until(start + timedelta(minutes=10))
    finally:
        signals.scheduled_run_recorded.disconnect(hear)
    assert heard == ["started"]


def test_two_dispatchers_at_once_start_one_run(sim_export: Export, sim: SimulatorControl) -> None:
    sim.fault("slow", sim_export.identity.webadmit_id, seconds=0.5)  # both surely inside at once
    start = datetime(2026, 3, 9, 9, 58, tzinfo=UTC)
    daily = schedule_at(sim_export, start, kind="daily", times="06:00")
    due = start + timedelta(minutes=3)

    results = at_once(*[lambda: dispatch.dispatch(due)] * 4)

    assert sorted(len(result) for result in results) == [0, 0, 0, 1]
    assert daily.runs.count() == 1 and RunRequest.objects.count() == 1
    assert connection.vendor in ("sqlite", "postgresql")


def test_saving_without_changing_the_times_keeps_a_due_slot(sim_export: Export) -> None:
    daily = Schedule.objects.create(export=sim_export, kind="daily", times="06:00")
    due = datetime(2026, 3, 9, 10, tzinfo=UTC)
    Schedule.objects.filter(pk=daily.pk).update(next_run_at=due)
    daily.refresh_from_db()

    daily.save()  # a second save in the admin, say, before beat's turn
    assert daily.next_run_at == due

    daily.times = "07:00"
    daily.save()
    assert daily.next_run_at != due and f"{daily.next_run_at.astimezone(timing.zone()):%H:%M}" == "07:00"


def test_a_spent_budget_of_seconds_leaves_the_rest_to_the_next_beat(sim_export: Export) -> None:
    start = datetime(2026, 3, 9, 9, 58, tzinfo=UTC)
    first = schedule_at(sim_export, start, kind="daily", times="06:00")
    second = schedule_at(sim_export, start, kind="weekdays", times="06:00")
    due = start + timedelta(minutes=3)

    assert dispatch.dispatch(due, budget=-1) == []  # spent before the first: nothing claimed
    assert first.runs.count() == second.runs.count() == 0
    dispatch.dispatch(due)
    assert first.runs.count() == second.runs.count() == 1


def test_beat_runs_the_dispatcher_on_the_default_queue(settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["schedules-dispatch"]
    assert entry["task"] == "webadmit_dash.schedules.tasks.dispatch_due"
    assert entry["schedule"] == float(settings.WEBADMIT_DISPATCH_EVERY)
    assert not any(
        fnmatch("webadmit_dash.schedules.tasks.dispatch_due", pattern) for pattern in settings.CELERY_TASK_ROUTES
    )


def test_the_task_dispatches_what_is_due_now(sim_export: Export) -> None:
    daily = Schedule.objects.create(export=sim_export, kind="daily", times="06:00")
    Schedule.objects.filter(pk=daily.pk).update(next_run_at=datetime.now(UTC) - timedelta(seconds=10))

    assert tasks.dispatch_due() == 1
    assert tasks.dispatch_due() == 0
    assert daily.runs.get().outcome == "started"
