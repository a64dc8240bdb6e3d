"""The expectation a schedule implies: its run's time plus how long the export's runs usually take.

A schedule that starts a run at 06:00 of an export whose runs usually take 20 minutes makes "a good run by 06:45"
(the usual duration rounded up to a quarter hour, plus a quarter hour for the refresher to see it). Made once, when
a schedule is created for an export that has no expectation yet (`on_schedule_saved`); after that it is the
administrator's to change, so editing the schedule never overwrites an expectation someone tuned.
"""

from __future__ import annotations

import math
import re
import statistics
from datetime import datetime, time, timedelta
from typing import Any

from webadmit_dash.core.models import Export
from webadmit_dash.schedules import watchdog
from webadmit_dash.schedules.models import Expectation, Schedule

HISTORY_RUNS = 20  # the export's last runs measured
MIN_MEASURED = 3  # fewer measured runs than this say nothing usual: NO_HISTORY is assumed
STEP = timedelta(minutes=15)
MARGIN = timedelta(minutes=15)  # the refresher sees a finished run within its cadence, not at once
FLOOR = timedelta(minutes=30)
CEILING = timedelta(hours=4)
NO_HISTORY = timedelta(hours=1)
LAST_OF_DAY = time(23, 59)  # deadlines stay on the run's own day (a weekday run's deadline never lands on Saturday)

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_WEEKDAYS = {"1-5", "mon-fri"}


def usual_duration(export: Export) -> timedelta | None:
    """The median time from first sight of a run to its good status, over the export's last HISTORY_RUNS good
    runs; None with fewer than MIN_MEASURED. Runs first seen already finished (an identity's first listing) took
    an unknown time and are left out."""
    rows = (
        watchdog.good_runs(export)
        .order_by("-first_seen_at", "-pk")
        .values_list("first_seen_at", "status_changed_at")[:HISTORY_RUNS]
    )
    took = [(changed - seen).total_seconds() for seen, changed in rows if changed > seen]
    if len(took) < MIN_MEASURED:
        return None
    return timedelta(seconds=statistics.median(took))


def allowance(export: Export) -> timedelta:
    """How long after its start a run is expected: the usual duration rounded up to STEP, plus MARGIN, between
    FLOOR and CEILING (NO_HISTORY without history)."""
    usual = usual_duration(export)
    if usual is None:
        return NO_HISTORY
    rounded = STEP * math.ceil(usual / STEP)
    return min(max(rounded + MARGIN, FLOOR), CEILING)


def _first_slot(schedule: Schedule) -> tuple[time, str] | None:
    """The schedule's earliest time of day and its days, or None for a cron expression that is not one fixed time
    every day or every weekday (those need an expectation made by hand)."""
    if schedule.kind == Schedule.Kind.CRON:
        fields = schedule.cron.split()
        if len(fields) != 5 or not (fields[0].isdigit() and fields[1].isdigit()) or fields[2:4] != ["*", "*"]:
            return None
        minute, hour, weekday = int(fields[0]), int(fields[1]), fields[4].lower()
        if minute > 59 or hour > 23 or weekday not in {"*", *_WEEKDAYS}:
            return None
        return time(hour, minute), Expectation.Days.DAILY if weekday == "*" else Expectation.Days.WEEKDAYS
    slots = [time(int(m[1]), int(m[2])) for part in schedule.times.split(",") if (m := _TIME.match(part.strip()))]
    if not slots:
        return None
    days = Expectation.Days.WEEKDAYS if schedule.kind == Schedule.Kind.WEEKDAYS else Expectation.Days.DAILY
    return min(slots), days


def default_expectation(schedule: Schedule) -> Expectation | None:
    """The expectation the schedule implies (not saved): its earliest slot plus the export's allowance, on the
    same days. With several times a day, the first file of the day is the one offices wait for."""
    slot = _first_slot(schedule)
    if slot is None:
        return None
    start, days = slot
    by = datetime.combine(datetime.min.date(), start) + allowance(schedule.export)
    by_time = by.time() if by.date() == datetime.min.date() else LAST_OF_DAY
    return Expectation(export=schedule.export, by_time=by_time, days=days, schedule=schedule)


def make_default_expectation(schedule: Schedule) -> Expectation | None:
    """Saves the schedule's default expectation unless its export already has an enabled one."""
    if Expectation.objects.filter(export_id=schedule.export_id, enabled=True).exists():
        return None
    expectation = default_expectation(schedule)
    if expectation is not None:
        expectation.save()
    return expectation


def on_schedule_saved(sender: Any, instance: Schedule, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """post_save of Schedule: a new enabled schedule brings its expectation (fixtures loaded raw do not)."""
    if created and instance.enabled and not raw:
        make_default_expectation(instance)
