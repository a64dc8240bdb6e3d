"""The watchdog: notices the file that never came.

Beat runs `check(now)` every minute. Each enabled Expectation names a time of day (in the institution's zone,
settings.TIME_ZONE) by which a good run (Available or Success With Errors) should have arrived, every day or on
weekdays. Each deadline is judged once (`checked_through` remembers the last): if no good run arrived since the
previous deadline, a Missing row is written (once per deadline, whatever the number of checks or workers). A good
run arriving after a miss gives the miss its all-clear (`arrived`, `arrived_at`). Notifications read both from the
outbox in `news`; the watchdog never sends anything itself.

"Arrived" is when the engine saw the good status (`status_changed_at`). So a deadline is judged only once the
export's identity has been read after it: while refreshes fail, the freshness banner tells of that, and the
watchdog does not cry "missing" about files it simply could not see.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from django.conf import settings
from django.db.models import Q, QuerySet

from webadmit_dash.core.models import Export, ExportFile
from webadmit_dash.schedules.models import Expectation, Missing
from webadmit_dash.webadmit.statuses import DOWNLOADABLE

GOOD = [status.value for status in DOWNLOADABLE]
# After downtime, deadlines older than this are not judged: the misses of a week are news enough, and a machine
# switched off for a month should not wake up to thirty notifications per export.
LOOKBACK = timedelta(days=7)
WEEKDAYS = range(5)  # Monday to Friday, as date.weekday() counts


@dataclass
class Result:
    """What one check did: deadlines judged, the misses it wrote and the misses it cleared (their ids)."""

    judged: int = 0
    missing: list[int] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)


def zone() -> tzinfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _on(day: date, by_time: time, tz: tzinfo) -> datetime:
    """A time of day on a local date as an instant. In the hour a clock skips or repeats the later reading wins: a
    deadline is never earlier than the wall clock says, so the watchdog never cries wolf early."""
    naive = datetime.combine(day, by_time)
    latest = max(naive.replace(tzinfo=tz, fold=fold).timestamp() for fold in (0, 1))
    # Rebuilt from the instant, so a skipped 02:30 reads as the 03:30 it is.
    return datetime.fromtimestamp(latest, tz)


def _counts(expectation: Expectation, day: date) -> bool:
    return expectation.days == Expectation.Days.DAILY or day.weekday() in WEEKDAYS


def deadlines(expectation: Expectation, after: datetime, through: datetime) -> Iterator[datetime]:
    """The expectation's deadlines in (after, through], oldest first, each at its wall-clock time on its own day
    (07:00 is 07:00 local on both sides of a daylight-saving change)."""
    tz = zone()
    day = after.astimezone(tz).date()
    last = through.astimezone(tz).date()
    while day <= last:
        if _counts(expectation, day):
            deadline = _on(day, expectation.by_time, tz)
            if after < deadline <= through:
                yield deadline
        day += timedelta(days=1)


def previous_deadline(expectation: Expectation, deadline: datetime) -> datetime:
    """The deadline before this one (for weekdays, Monday's is Friday's)."""
    tz = zone()
    day = deadline.astimezone(tz).date() - timedelta(days=1)
    while not _counts(expectation, day):
        day -= timedelta(days=1)
    return _on(day, expectation.by_time, tz)


def next_deadline(expectation: Expectation, now: datetime) -> datetime:
    """The first deadline after `now`."""
    return next(deadlines(expectation, now, now + timedelta(days=4)))


def runs_of(export: Export) -> QuerySet[ExportFile]:
    """An export's runs, by identity, kind and WebAdMIT's export id (the index the file page uses): a run is counted
    even before E3 has named its export."""
    return export.runs()


def good_runs(export: Export) -> QuerySet[ExportFile]:
    return runs_of(export).filter(status__in=GOOD)


def check(now: datetime) -> Result:
    """Judges every enabled expectation's deadlines up to `now`, then gives open misses their all-clear."""
    result = Result()
    expectations = Expectation.objects.filter(enabled=True, export__identity__enabled=True).select_related(
        "export__identity"
    )
    for expectation in expectations:
        _judge(expectation, now, result)
    _clear(now, result)
    return result


def _judge(expectation: Expectation, now: datetime, result: Result) -> None:
    """Each deadline of one expectation passed since it was last checked, oldest first, stopping at the first that
    cannot be judged yet (its identity not read since)."""
    start = expectation.checked_through or expectation.created_at
    start = max(start, now - LOOKBACK)
    seen_through = expectation.export.identity.last_success_at
    judged_through = None
    for deadline in deadlines(expectation, start, now):
        if seen_through is None or seen_through < deadline:
            break
        since = previous_deadline(expectation, deadline)
        arrived = good_runs(expectation.export).filter(status_changed_at__gt=since, status_changed_at__lte=deadline)
        if not arrived.exists():
            miss, created = Missing.objects.get_or_create(
                expectation=expectation, expected_by=deadline, defaults={"detected_at": now}
            )
            if created:
                result.missing.append(miss.pk)
        judged_through = deadline
        result.judged += 1
    if judged_through is not None:
        # Conditional, so a slower concurrent check cannot move it backwards.
        Expectation.objects.filter(pk=expectation.pk).filter(
            Q(checked_through__isnull=True) | Q(checked_through__lt=judged_through)
        ).update(checked_through=judged_through)


def _clear(now: datetime, result: Result) -> None:
    """Every open miss whose export has had a good run since its deadline: the first such run is its all-clear."""
    open_misses = Missing.objects.filter(arrived_at__isnull=True, expectation__enabled=True).select_related(
        "expectation__export"
    )
    for miss in open_misses:
        late = (
            good_runs(miss.expectation.export)
            .filter(status_changed_at__gt=miss.expected_by, status_changed_at__lte=now)
            .order_by("status_changed_at", "pk")
            .first()
        )
        if late is None:
            continue
        # Conditional: a concurrent check that cleared it first wins, and this one reports nothing.
        cleared = Missing.objects.filter(pk=miss.pk, arrived_at__isnull=True).update(
            arrived=late, arrived_at=late.status_changed_at
        )
        if cleared:
            result.cleared.append(miss.pk)
