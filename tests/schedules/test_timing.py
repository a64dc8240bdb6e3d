"""A schedule's slots in New York across both 2026 daylight-saving nights, its words, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from webadmit_dash.schedules import timing
from webadmit_dash.schedules.models import Schedule

SPRING = (datetime(2026, 3, 8, 4, tzinfo=UTC), datetime(2026, 3, 8, 16, tzinfo=UTC))  # 23:00 EST to 12:00 EDT
AUTUMN = (datetime(2026, 11, 1, 3, tzinfo=UTC), datetime(2026, 11, 1, 16, tzinfo=UTC))  # 23:00 EDT to 11:00 EST


def local(instants: list[datetime]) -> list[str]:
    return [instant.astimezone(timing.zone()).isoformat(timespec="minutes") for instant in instants]


def schedule(kind: str, times: str = "", cron: str = "") -> Schedule:
    return Schedule(kind=kind, times=times, cron=cron)


KINDS = ["daily", "cron"]
EVERY_KIND = [
    schedule("daily", times="01:30, 02:30, 06:00"),
    schedule("cron", cron="30 1,2,6 * * *"),
    schedule("cron", cron="0,30 1-2 * * *"),  # more wall times in the night than the others, same rule
]


@pytest.mark.parametrize(("subject", "six"), [(EVERY_KIND[0], "06:00"), (EVERY_KIND[1], "06:30")], ids=KINDS)
def test_spring_night_runs_the_missing_0230_once_at_0300(subject: Schedule, six: str) -> None:
    assert local(timing.slots_between(subject, *SPRING)) == [
        "2026-03-08T01:30-05:00",
        "2026-03-08T03:00-04:00",  # 02:30 does not exist: the first minute after it that does
        f"2026-03-08T{six}-04:00",
    ]


@pytest.mark.parametrize(("subject", "six"), [(EVERY_KIND[0], "06:00"), (EVERY_KIND[1], "06:30")], ids=KINDS)
def test_autumn_night_runs_the_doubled_0130_once_at_its_first_occurrence(subject: Schedule, six: str) -> None:
    assert local(timing.slots_between(subject, *AUTUMN)) == [
        "2026-11-01T01:30-04:00",  # EDT, the first of the two 01:30s; not again at 01:30 EST
        "2026-11-01T02:30-05:00",
        f"2026-11-01T{six}-05:00",
    ]


def test_wall_times_that_land_on_one_instant_are_one_slot() -> None:
    # 02:00 and 02:30 do not exist on the spring night: both run at 03:00, once.
    assert local(timing.slots_between(EVERY_KIND[2], *SPRING)) == [
        "2026-03-08T01:00-05:00",
        "2026-03-08T01:30-05:00",
        "2026-03-08T03:00-04:00",
    ]
    assert local(timing.slots_between(EVERY_KIND[2], *AUTUMN)) == [
        "2026-11-01T01:00-04:00",
        "2026-11-01T01:30-04:00",
        "2026-11-01T02:00-05:00",
        "2026-11-01T02:30-05:00",
    ]


def test_every_minute_of_the_missing_hour_is_one_run() -> None:
    every_minute = schedule("cron", cron="* 2 * * *")
    assert local(timing.slots_between(every_minute, *SPRING)) == ["2026-03-08T03:00-04:00"]
    assert len(timing.slots_between(every_minute, *AUTUMN)) == 60


def test_weekdays_skip_the_weekend_around_both_nights() -> None:
    weekdays = schedule("weekdays", times="06:00, 13:00")
    week = timing.slots_between(weekdays, datetime(2026, 3, 6, 5, tzinfo=UTC), datetime(2026, 3, 10, 5, tzinfo=UTC))
    assert local(week) == [
        "2026-03-06T06:00-05:00",
        "2026-03-06T13:00-05:00",
        "2026-03-09T06:00-04:00",  # Monday, after Sunday's change: still 06:00 on the wall
        "2026-03-09T13:00-04:00",
    ]
    autumn = timing.slots_between(weekdays, datetime(2026, 10, 30, 12, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    assert local(autumn) == ["2026-10-30T13:00-04:00", "2026-11-02T06:00-05:00", "2026-11-02T13:00-05:00"]


def test_next_slot_from_inside_the_doubled_hour_does_not_run_0130_again() -> None:
    daily = schedule("daily", times="01:30")
    second_0115 = datetime(2026, 11, 1, 6, 15, tzinfo=UTC)  # 01:15 EST, the second time 01:15 is on the wall
    assert local([timing.next_slot(daily, second_0115)]) == ["2026-11-02T01:30-05:00"]  # type: ignore[list-item]
    first_0115 = datetime(2026, 11, 1, 5, 15, tzinfo=UTC)  # 01:15 EDT
    assert local([timing.next_slot(daily, first_0115)]) == ["2026-11-01T01:30-04:00"]  # type: ignore[list-item]


def test_next_slot_is_strictly_after_and_utc() -> None:
    daily = schedule("daily", times="06:00")
    at_six = datetime(2026, 3, 9, 10, tzinfo=UTC)  # 06:00 EDT
    following = timing.next_slot(daily, at_six)
    assert following == datetime(2026, 3, 10, 10, tzinfo=UTC)
    assert following is not None and following.tzinfo == UTC


@pytest.mark.parametrize(
    ("subject", "words"),
    [
        (schedule("weekdays", times="13:00, 6:00"), "Weekdays at 06:00 and 13:00"),
        (schedule("daily", times="06:00"), "Every day at 06:00"),
        (schedule("daily", times="06:00 12:00 18:30"), "Every day at 06:00, 12:00 and 18:30"),
        (schedule("cron", cron="0 6 * * 1-5"), "At 06:00, Monday through Friday"),
        (schedule("cron", cron="@daily"), "Every day at 00:00"),
        (schedule("cron", cron="@HOURLY"), "Every hour, on the hour"),
    ],
)
def test_describe_in_words(subject: Schedule, words: str) -> None:
    assert timing.describe(subject) == words


def test_aliases_run_as_their_expression() -> None:
    daily = schedule("cron", cron="@daily")
    assert local(timing.slots_between(daily, *SPRING)) == ["2026-03-08T00:00-05:00"]
    assert local([timing.next_slot(daily, SPRING[1])]) == ["2026-03-09T00:00-04:00"]  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("kind", "times", "cron", "field", "words"),
    [
        ("daily", "", "", "times", "Give at least one time of day"),
        ("daily", "25:00", "", "times", "“25:00” is not a time of day: use 24-hour HH:MM"),
        ("weekdays", "06:00, 6pm", "", "times", "“6pm” is not a time of day"),
        ("daily", "06:60", "", "times", "“06:60” is not a time of day"),
        ("cron", "", "60 6 * * *", "cron", "“60 6 * * *” is not a cron expression: each field must be in range"),
        ("cron", "", "0 6 * *", "cron", "has 4"),
        ("cron", "", "0 0 6 * * *", "cron", "Seconds and years are not used here"),
        ("cron", "", "H 6 * * *", "cron", "is not a cron expression"),
        ("cron", "", "@fortnightly", "cron", "is not a cron alias this dashboard knows: use one of @annually"),
        ("cron", "", "0 0 30 2 *", "cron", "never happens"),
        ("cron", "", "", "cron", "Give a cron expression"),
        ("hourly", "", "", "kind", "is not a kind of schedule"),
    ],
)
def test_validate_refuses_in_words(kind: str, times: str, cron: str, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as raised:
        timing.validate(kind, times, cron)
    assert words in " ".join(raised.value.message_dict[field])


def test_validate_tidies_what_it_keeps() -> None:
    assert timing.validate("daily", " 13:00,6:00  06:00 ", "0 0 * * *") == ("06:00, 13:00", "")
    assert timing.validate("cron", "06:00", "  0  6 * * 1-5 ") == ("", "0 6 * * 1-5")
    assert timing.validate("cron", "", "@Daily") == ("", "@daily")


def test_an_invalid_saved_schedule_has_no_slots_and_says_so() -> None:
    broken = schedule("cron", cron="60 6 * * *")
    assert timing.next_slot(broken, SPRING[0]) is None
    assert timing.slots_between(broken, *SPRING) == []
    assert timing.describe(broken) == "Not valid: 60 6 * * *"
