"""The watchdog on a fake clock: every time is passed in, the real functions run against the real database.

The institution is in New York; deadlines are wall-clock times there, so both 2026 daylight-saving nights
(8 March, 1 November) are crossed.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.factories import make_export, make_file
from webadmit_dash.core.models import Export, ExportFile, UserIdentity
from webadmit_dash.schedules import expected, news, watchdog
from webadmit_dash.schedules.models import Expectation, Missing, Schedule
from webadmit_dash.webadmit.statuses import FileStatus

NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


def at(day: str, clock: str) -> datetime:
    """A New York wall-clock time as an aware instant."""
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=NY)


@pytest.fixture(autouse=True)
def new_york(settings) -> None:
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def export(identity) -> Export:
    return make_export(identity, 335158, "Nightly Banner Export")


def expect(export: Export, by: str = "07:00", days: str = "weekdays", *, since: datetime) -> Expectation:
    """An expectation watched since `since` (as if the watchdog had checked through then)."""
    hour, minute = map(int, by.split(":"))
    return Expectation.objects.create(export=export, by_time=time(hour, minute), days=days, checked_through=since)


def good_run(export: Export, when: datetime, status: FileStatus = FileStatus.AVAILABLE) -> ExportFile:
    """A run the engine first saw and saw end well at `when`."""
    return make_file(export.identity, status, export=export, first_seen_at=when)


def check(now: datetime) -> watchdog.Result:
    """A check at `now`, the identities having just been read (the watchdog judges only what it could see)."""
    UserIdentity.objects.update(last_success_at=now)
    return watchdog.check(now)


def deadlines_missed(expectation: Expectation) -> list[datetime]:
    return [miss.expected_by.astimezone(NY) for miss in Missing.objects.filter(expectation=expectation)]


@pytest.mark.django_db
class TestDeadlines:
    def test_a_deadline_with_no_good_run_is_a_miss(self, export):
        expectation = expect(export, since=at("2026-03-02", "08:00"))  # a Monday
        result = check(at("2026-03-03", "07:01"))
        assert deadlines_missed(expectation) == [at("2026-03-03", "07:00")]
        assert result.judged == 1
        miss = Missing.objects.get()
        assert result.missing == [miss.pk]
        assert miss.detected_at == at("2026-03-03", "07:01")
        assert miss.arrived_at is None

    def test_nothing_before_the_deadline_passes(self, export):
        expectation = expect(export, since=at("2026-03-02", "08:00"))
        check(at("2026-03-03", "06:59"))
        assert deadlines_missed(expectation) == []
        expectation.refresh_from_db()
        assert expectation.checked_through == at("2026-03-02", "08:00")

    def test_a_good_run_in_time_is_no_miss(self, export):
        expectation = expect(export, since=at("2026-03-02", "08:00"))
        good_run(export, at("2026-03-03", "06:40"), FileStatus.SUCCESS_WITH_ERRORS)
        result = check(at("2026-03-03", "07:01"))
        assert deadlines_missed(expectation) == []
        assert result.judged == 1
        expectation.refresh_from_db()
        assert expectation.checked_through == at("2026-03-03", "07:00")

    def test_a_run_that_ended_badly_does_not_count(self, export):
        expectation = expect(export, since=at("2026-03-02", "08:00"))
        good_run(export, at("2026-03-03", "06:40"), FileStatus.FAILED)
        good_run(export, at("2026-03-03", "06:41"), FileStatus.EMPTY_LIST)
        check(at("2026-03-03", "07:01"))
        assert deadlines_missed(expectation) == [at("2026-03-03", "07:00")]

    def test_a_good_run_before_the_previous_deadline_does_not_count(self, export):
        """Monday's file does not answer for Tuesday: only runs since the previous expected time count."""
        expectation = expect(export, since=at("2026-03-02", "06:00"))
        good_run(export, at("2026-03-02", "06:30"))
        check(at("2026-03-03", "07:01"))
        assert deadlines_missed(expectation) == [at("2026-03-03", "07:00")]

    def test_another_exports_runs_do_not_count(self, export, identity):
        expectation = expect(export, since=at("2026-03-02", "08:00"))
        good_run(make_export(identity, 99, "Another export"), at("2026-03-03", "06:30"))
        check(at("2026-03-03", "07:01"))
        assert deadlines_missed(expectation) == [at("2026-03-03", "07:00")]

    def test_one_miss_per_deadline_however_often_it_is_checked(self, export):
        expectation = expect(export, since=at("2026-03-02", "08:00"))
        first = check(at("2026-03-03", "07:01"))
        later = [check(at("2026-03-03", f"07:{minute:02}")) for minute in range(2, 30)]
        # Even a check that starts over (checked_through lost, or a second worker behind) writes nothing new.
        Expectation.objects.update(checked_through=at("2026-03-02", "08:00"))
        again = check(at("2026-03-03", "07:31"))
        assert len(first.missing) == 1
        assert all(result.missing == [] for result in [*later, again])
        assert deadlines_missed(expectation) == [at("2026-03-03", "07:00")]

    def test_a_deadline_is_not_judged_before_the_identity_was_read_after_it(self, export):
        """While refreshes fail, the watchdog cannot know the file did not come: it waits, then judges."""
        expectation = expect(export, since=at("2026-03-02", "08:00"))
        UserIdentity.objects.update(last_success_at=at("2026-03-03", "06:55"))
        assert watchdog.check(at("2026-03-03", "07:30")).judged == 0
        assert deadlines_missed(expectation) == []
        # The refresh that finally comes shows the run that ended at 06:58: in time.
        good_run(export, at("2026-03-03", "06:58"))
        assert check(at("2026-03-03", "07:31")).judged == 1
        assert deadlines_missed(expectation) == []

    def test_disabled_expectations_are_not_judged(self, export):
        expectation = expect(export, since=at("2026-03-02", "08:00"))
        Expectation.objects.update(enabled=False)
        check(at("2026-03-03", "07:01"))
        assert deadlines_missed(expectation) == []

    def test_a_new_expectation_starts_with_its_next_deadline(self, export):
        expectation = Expectation.objects.create(export=export, by_time=time(7), days="daily")
        now = expectation.created_at
        assert list(watchdog.deadlines(expectation, now, now + timedelta(days=1))) == [
            watchdog.next_deadline(expectation, now)
        ]
        check(now + timedelta(minutes=1))
        assert deadlines_missed(expectation) == []

    def test_after_downtime_only_the_last_week_is_judged(self, export):
        expectation = expect(export, "07:00", "daily", since=at("2026-02-01", "08:00"))
        check(at("2026-03-03", "07:01"))
        assert len(deadlines_missed(expectation)) == 7


@pytest.mark.django_db
class TestAllClear:
    def test_a_late_run_clears_the_miss(self, export):
        expect(export, since=at("2026-03-02", "08:00"))
        check(at("2026-03-03", "07:01"))
        late = good_run(export, at("2026-03-03", "07:42"))
        result = check(at("2026-03-03", "07:43"))
        miss = Missing.objects.get()
        assert result.cleared == [miss.pk]
        assert miss.arrived == late
        assert miss.arrived_at == at("2026-03-03", "07:42")
        assert news.arrived_words(miss) == "Arrived at 07:42, 42 minutes late"
        assert check(at("2026-03-03", "07:44")).cleared == []

    def test_the_first_late_run_is_the_all_clear(self, export):
        expect(export, since=at("2026-03-02", "08:00"))
        check(at("2026-03-03", "07:01"))
        first = good_run(export, at("2026-03-03", "07:20"))
        good_run(export, at("2026-03-03", "07:40"))
        check(at("2026-03-03", "07:45"))
        assert Missing.objects.get().arrived == first

    def test_a_late_failure_is_no_all_clear(self, export):
        expect(export, since=at("2026-03-02", "08:00"))
        check(at("2026-03-03", "07:01"))
        good_run(export, at("2026-03-03", "07:20"), FileStatus.FAILED)
        assert check(at("2026-03-03", "07:45")).cleared == []
        assert Missing.objects.get().arrived_at is None

    def test_a_file_days_late_says_so(self, export):
        expect(export, since=at("2026-03-02", "08:00"))
        check(at("2026-03-03", "07:01"))
        good_run(export, at("2026-03-05", "09:10"))
        check(at("2026-03-05", "09:11"))
        misses = Missing.objects.order_by("expected_by")
        assert [news.arrived_words(miss) for miss in misses] == [
            "Arrived at 09:10 on Thursday 5 March, 2 days late",
            "Arrived at 09:10 on Thursday 5 March, 1 day late",
            "Arrived at 09:10, 2 hours 10 minutes late",
        ]


@pytest.mark.django_db
class TestDays:
    def test_weekdays_skip_the_weekend(self, export):
        expectation = expect(export, since=at("2026-03-06", "08:00"))  # a Friday, after its deadline
        check(at("2026-03-08", "23:00"))  # Sunday night
        assert deadlines_missed(expectation) == []
        check(at("2026-03-09", "07:01"))
        assert deadlines_missed(expectation) == [at("2026-03-09", "07:00")]

    def test_mondays_window_starts_at_fridays_deadline(self, export):
        """A run on Saturday answers for Monday: it came after Friday's expected time."""
        expectation = expect(export, since=at("2026-03-06", "08:00"))
        good_run(export, at("2026-03-07", "10:00"))
        check(at("2026-03-09", "07:01"))
        assert deadlines_missed(expectation) == []
        assert watchdog.previous_deadline(expectation, at("2026-03-09", "07:00")) == at("2026-03-06", "07:00")

    def test_every_day_includes_the_weekend(self, export):
        expectation = expect(export, "07:00", "daily", since=at("2026-03-06", "08:00"))
        check(at("2026-03-08", "23:00"))
        assert deadlines_missed(expectation) == [at("2026-03-08", "07:00"), at("2026-03-07", "07:00")]


@pytest.mark.django_db
class TestDaylightSaving:
    def test_spring_forward_keeps_seven_oclock_local(self, export):
        """8 March 2026: 07:00 is 12:00 UTC on Saturday and 11:00 UTC on Sunday."""
        expectation = expect(export, "07:00", "daily", since=at("2026-03-07", "08:00"))
        assert check(at("2026-03-08", "06:59")).judged == 0
        result = check(at("2026-03-08", "07:00"))
        assert result.judged == 1
        assert deadlines_missed(expectation) == [at("2026-03-08", "07:00")]
        assert Missing.objects.get().expected_by.astimezone(UTC).hour == 11

    def test_fall_back_keeps_seven_oclock_local(self, export):
        """1 November 2026: 07:00 is 11:00 UTC on Saturday and 12:00 UTC on Sunday; a run at 06:30 EST (11:30
        UTC, after 07:00 EDT's instant of the day before) is in time."""
        expectation = expect(export, "07:00", "daily", since=at("2026-10-31", "08:00"))
        good_run(export, at("2026-11-01", "06:30"))
        check(at("2026-11-01", "07:01"))
        assert deadlines_missed(expectation) == []
        check(at("2026-11-02", "07:01"))
        assert deadlines_missed(expectation) == [at("2026-11-02", "07:00")]

    def test_a_deadline_in_the_skipped_hour_is_the_later_reading(self, export):
        expectation = expect(export, "02:30", "daily", since=at("2026-03-07", "08:00"))
        (deadline,) = watchdog.deadlines(expectation, at("2026-03-07", "08:00"), at("2026-03-09", "00:00"))
        assert deadline.astimezone(NY).strftime("%H:%M %Z") == "03:30 EDT"

    def test_a_deadline_in_the_repeated_hour_is_the_later_reading(self, export):
        expectation = expect(export, "01:30", "daily", since=at("2026-10-31", "08:00"))
        (deadline,) = watchdog.deadlines(expectation, at("2026-10-31", "08:00"), at("2026-11-02", "00:00"))
        assert deadline.astimezone(NY).strftime("%H:%M %Z") == "01:30 EST"

    def test_a_week_across_the_spring_night_has_one_deadline_a_day(self, export):
        expectation = expect(export, "07:00", "daily", since=at("2026-03-05", "08:00"))
        found = list(watchdog.deadlines(expectation, at("2026-03-05", "08:00"), at("2026-03-12", "08:00")))
        assert [deadline.astimezone(NY).strftime("%d %H:%M") for deadline in found] == [
            f"{day:02} 07:00" for day in range(6, 13)
        ]


@pytest.mark.django_db
class TestDefaultExpectation:
    def _history(self, export: Export, minutes: list[int]) -> None:
        for took in minutes:
            run = good_run(export, at("2026-02-02", "06:00"))
            ExportFile.objects.filter(pk=run.pk).update(
                status_changed_at=at("2026-02-02", "06:00") + timedelta(minutes=took)
            )

    def test_the_schedules_time_plus_the_usual_duration(self, export):
        self._history(export, [12, 20, 22, 25, 90])  # median 22 minutes
        schedule = Schedule(export=export, kind=Schedule.Kind.WEEKDAYS, times="13:00, 06:00")
        assert expected.usual_duration(export) == timedelta(minutes=22)
        made = expected.default_expectation(schedule)
        assert made is not None
        # 22 minutes, rounded up to 30, plus a quarter hour for the refresher: 06:45, from the earliest slot.
        assert (made.by_time, made.days, made.schedule) == (time(6, 45), "weekdays", schedule)

    def test_without_history_an_hour_is_allowed(self, export):
        self._history(export, [10, 10])  # too few to say what is usual
        made = expected.default_expectation(Schedule(export=export, kind=Schedule.Kind.DAILY, times="06:00"))
        assert made is not None and (made.by_time, made.days) == (time(7, 0), "daily")

    def test_floor_and_ceiling(self, export):
        self._history(export, [1, 1, 2])
        assert expected.allowance(export) == timedelta(minutes=30)
        ExportFile.objects.all().delete()
        self._history(export, [600, 600, 600])
        assert expected.allowance(export) == timedelta(hours=4)

    def test_runs_first_seen_finished_are_not_measured(self, export):
        for _ in range(5):
            good_run(export, at("2026-02-02", "06:00"))  # first seen already Available: took an unknown time
        assert expected.usual_duration(export) is None

    def test_a_deadline_past_midnight_stays_on_the_runs_day(self, export):
        made = expected.default_expectation(Schedule(export=export, kind=Schedule.Kind.WEEKDAYS, times="23:30"))
        assert made is not None and made.by_time == time(23, 59)

    @pytest.mark.parametrize(
        ("cron", "by_time", "days"),
        [
            ("0 6 * * *", time(7), "daily"),
            ("30 5 * * 1-5", time(6, 30), "weekdays"),
            ("0 6 * * MON-FRI", time(7), "weekdays"),
        ],
    )
    def test_a_cron_at_one_time_a_day(self, export, cron, by_time, days):
        made = expected.default_expectation(Schedule(export=export, kind=Schedule.Kind.CRON, cron=cron))
        assert made is not None and (made.by_time, made.days) == (by_time, days)

    @pytest.mark.parametrize("cron", ["*/15 * * * *", "0 6 1 * *", "0 6,13 * * *", "0 6 * * 6", "@daily"])
    def test_other_crons_need_an_expectation_made_by_hand(self, export, cron):
        assert expected.default_expectation(Schedule(export=export, kind=Schedule.Kind.CRON, cron=cron)) is None

    def test_a_new_schedule_brings_its_expectation_once(self, export):
        Schedule.objects.create(export=export, kind=Schedule.Kind.DAILY, times="06:00")
        Schedule.objects.create(export=export, kind=Schedule.Kind.WEEKDAYS, times="05:00")
        (made,) = Expectation.objects.all()
        assert (made.by_time, made.days) == (time(7), "daily")
        assert made.schedule is not None and made.schedule.times == "06:00"


@pytest.mark.django_db
def test_beat_runs_the_check_every_minute(settings, export):
    from webadmit_dash.schedules import watch_tasks

    entry = settings.CELERY_BEAT_SCHEDULE["watch-expected-files"]
    assert (entry["task"], entry["schedule"]) == (watch_tasks.check_expected_files.name, 60.0)
    assert watch_tasks.check_expected_files.apply().get() == {"judged": 0, "missing": 0, "cleared": 0}
