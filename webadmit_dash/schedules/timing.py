"""When a schedule runs: its slots in the institution's time zone (TIME_ZONE), its words, and the check of what a
person typed (times of day, a cron expression).

Daylight saving neither skips nor doubles a run. Slots are worked out as wall-clock times first (from the times of
day, or from croniter on naive local times, which never sees a zone and so yields each wall time once), and only
then placed in the zone, by one rule:
- a wall time that does not exist that day (02:30 on a spring-forward night) runs once, at the first minute that
  does exist after it (03:00);
- a wall time that happens twice (01:30 on a fall-back night) runs once, at its first occurrence (fold=0).
Two wall times that land on the same instant (02:30 and 03:00 on the spring night) are one slot.

croniter's own zone handling is not used: it fires `30 1 * * *` twice on a fall-back night and yields the
nonexistent 02:30 from a naive start (docs/RECIPES). cron-descriptor is used for words only, after validate().
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, FormatException, Options
from croniter import CroniterBadDateError, croniter
from django.conf import settings
from django.core.exceptions import ValidationError


class Schedule(Protocol):
    """What timing reads of a schedule (models.Schedule, or one not saved yet); models imports this module."""

    kind: str
    times: str
    cron: str


DAILY, WEEKDAYS, CRON = "daily", "weekdays", "cron"

# croniter's aliases, accepted and shown in words of our own (cron-descriptor refuses them).
ALIASES: dict[str, tuple[str, str]] = {
    "@yearly": ("0 0 1 1 *", "Every year on 1 January at 00:00"),
    "@annually": ("0 0 1 1 *", "Every year on 1 January at 00:00"),
    "@monthly": ("0 0 1 * *", "On the first day of every month at 00:00"),
    "@weekly": ("0 0 * * 0", "Every Sunday at 00:00"),
    "@daily": ("0 0 * * *", "Every day at 00:00"),
    "@midnight": ("0 0 * * *", "Every day at 00:00"),
    "@hourly": ("0 * * * *", "Every hour, on the hour"),
}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
# What a field of a five-field expression may hold: numbers, names (MON, JAN), ranges, steps, lists, L, W and #.
# Anything else (croniter's H, seconds and years as extra fields) is refused rather than guessed at.
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/#?\-]+$")
# A gap in a zone's wall clock lasts at most this long (an hour almost everywhere, 30 minutes on Lord Howe Island).
_LONGEST_GAP = timedelta(hours=3)


def zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


# --- Checking what was typed ------------------------------------------------------------------------------------------


def parse_times(text: str) -> list[time]:
    """The times of day in "06:00, 13:00" (commas or spaces between them), sorted, each once; ValidationError in
    words for anything that is not a 24-hour HH:MM."""
    parts = [part for part in re.split(r"[,\s]+", text.strip()) if part]
    if not parts:
        raise ValidationError("Give at least one time of day, as 24-hour HH:MM (e.g. 06:00 or 06:00, 13:00).")
    found: set[time] = set()
    for part in parts:
        match = _TIME.match(part)
        hour, minute = (int(match[1]), int(match[2])) if match else (-1, -1)
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            raise ValidationError(
                f"“{part[:20]}” is not a time of day: use 24-hour HH:MM from 00:00 to 23:59, e.g. 06:00 or 13:30."
            )
        found.add(time(hour, minute))
    return sorted(found)


def cron_expression(text: str) -> str:
    """The five-field expression croniter is given: an alias (@daily) becomes its expression."""
    text = " ".join(text.split())
    return ALIASES[text.lower()][0] if text.lower() in ALIASES else text


def validate_cron(text: str) -> str:
    """The expression, tidied (single spaces), or ValidationError in words: five fields (minute hour day-of-month
    month day-of-week) croniter and cron-descriptor both understand, which happen at least once."""
    tidy = " ".join(text.split())
    if not tidy:
        raise ValidationError("Give a cron expression: minute hour day-of-month month day-of-week, e.g. 0 6 * * 1-5.")
    if tidy.startswith("@"):
        if tidy.lower() not in ALIASES:
            names = ", ".join(sorted(ALIASES))
            raise ValidationError(f"“{tidy[:20]}” is not a cron alias this dashboard knows: use one of {names}.")
        return tidy.lower()
    fields = tidy.split(" ")
    if len(fields) != 5:
        raise ValidationError(
            f"A cron expression has five fields (minute hour day-of-month month day-of-week); “{tidy[:60]}” has "
            f"{len(fields)}. Seconds and years are not used here."
        )
    if not all(_CRON_FIELD.match(field) for field in fields) or not croniter.is_valid(tidy):
        raise ValidationError(
            f"“{tidy[:60]}” is not a cron expression: each field must be in range (minute 0-59, hour 0-23, "
            "day 1-31, month 1-12, weekday 0-6), e.g. 0 6 * * 1-5 for weekdays at 06:00."
        )
    try:
        croniter(tidy, datetime(2026, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ValidationError(f"“{tidy[:60]}” never happens (no such date), so it would never run.") from None
    try:
        _cron_words(tidy)
    except FormatException:
        raise ValidationError(f"“{tidy[:60]}” could not be read as a cron expression.") from None
    return tidy


def validate(kind: str, times: str, cron: str) -> tuple[str, str]:
    """What a schedule is saved with, tidied: (times, cron) with the other one emptied; ValidationError in words,
    keyed by the field at fault, when it would not run."""
    if kind in (DAILY, WEEKDAYS):
        try:
            parsed = parse_times(times)
        except ValidationError as error:
            raise ValidationError({"times": error.messages}) from None
        return ", ".join(f"{t:%H:%M}" for t in parsed), ""
    if kind == CRON:
        try:
            return "", validate_cron(cron)
        except ValidationError as error:
            raise ValidationError({"cron": error.messages}) from None
    raise ValidationError({"kind": f"“{kind[:20]}” is not a kind of schedule: every day, weekdays or cron."})


# --- Words ------------------------------------------------------------------------------------------------------------


def _list_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _cron_words(expression: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    options.throw_exception_on_parse_error = True
    return str(ExpressionDescriptor(expression, options).get_description())


def describe(schedule: Schedule) -> str:
    """The schedule in words: "Weekdays at 06:00 and 13:00", "Every day at 06:00", or the cron expression's words
    ("At 06:00, Monday through Friday"). Never raises: a schedule saved before validation existed says so."""
    try:
        if schedule.kind == CRON:
            tidy = validate_cron(schedule.cron)
            return ALIASES[tidy][1] if tidy in ALIASES else _cron_words(tidy)
        times = _list_words([f"{t:%H:%M}" for t in parse_times(schedule.times)])
    except (ValidationError, FormatException):
        return f"Not valid: {schedule.cron or schedule.times}"[:200]
    return f"Weekdays at {times}" if schedule.kind == WEEKDAYS else f"Every day at {times}"


# --- Slots ------------------------------------------------------------------------------------------------------------


def place(wall: datetime) -> datetime:
    """The aware UTC instant a naive wall-clock time in the institution's zone runs at, by the module's rule: its
    first occurrence when it happens twice, the first existing minute after it when it does not exist."""
    tz = zone()
    candidate = wall
    while candidate - wall <= _LONGEST_GAP:
        local = candidate.replace(tzinfo=tz, fold=0)
        # A wall time exists when it survives the round trip through UTC unchanged.
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == candidate:
            return local.astimezone(UTC)
        candidate += timedelta(minutes=1)
    return wall.replace(tzinfo=tz).astimezone(UTC)  # not reached in any real zone


def _walls(schedule: Schedule, start: datetime) -> Iterator[datetime]:
    """The schedule's naive wall-clock times at or after `start` (naive, local), in order, forever."""
    if schedule.kind == CRON:
        expression = cron_expression(validate_cron(schedule.cron))
        iterator = croniter(expression, start - timedelta(minutes=1))
        while True:
            yield iterator.get_next(datetime)
    times = parse_times(schedule.times)
    day = start.date()
    while True:
        if schedule.kind != WEEKDAYS or day.weekday() < 5:
            for at in times:
                wall = datetime.combine(day, at)
                if wall >= start:
                    yield wall
        day += timedelta(days=1)


def _instants(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """The schedule's slots strictly after the aware instant `after`, each once, in order."""
    # Start a little earlier in wall time: a wall time in a gap is placed later than it reads.
    local_after = after.astimezone(zone()).replace(tzinfo=None)
    previous: datetime | None = None
    for wall in _walls(schedule, local_after - _LONGEST_GAP):
        instant = place(wall)
        if instant <= after or instant == previous:
            continue
        previous = instant
        yield instant


def next_slot(schedule: Schedule, after: datetime) -> datetime | None:
    """The schedule's first slot strictly after `after` (aware, UTC), or None when it has none (not valid)."""
    try:
        return next(_instants(schedule, after))
    except (ValidationError, CroniterBadDateError, StopIteration):
        return None


def slots_between(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """The schedule's slots in (start, end], in order (aware, UTC); empty when it is not valid."""
    found: list[datetime] = []
    try:
        for instant in _instants(schedule, start):
            if instant > end:
                break
            found.append(instant)
    except (ValidationError, CroniterBadDateError):
        return []
    return found


def local_words(instant: datetime) -> str:
    """An instant on the institution's wall clock, as schedules are written: "Mon 9 Mar 06:00 (America/New_York)"."""
    return f"{instant.astimezone(zone()):%a %-d %b %H:%M} ({zone().key})"
