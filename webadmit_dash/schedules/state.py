"""What the pages show of the watchdog: the open misses of the identities a user sees (Recent Files' banner, one
query), and one expectation's state (its next deadline, the last one judged, an open miss) for the partial
`schedules/_expectation.html`. Imports only core, schedules.models and the watchdog's date arithmetic."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse

from webadmit_dash.schedules import news, watchdog
from webadmit_dash.schedules.models import Expectation, Missing

BANNER_LIMIT = 10  # more open misses than this are summed up ("and 4 more"): the banner must not push the list away


@dataclass(frozen=True)
class OpenMiss:
    """One line of the banner: "Expected by 07:00, nothing yet: Nightly Banner Export · SOPHAS"."""

    pk: int
    words: str
    export_name: str
    identity_title: str
    expected_by: datetime
    runs_url: str  # the export's runs: Recent Files filtered to its identity and name


def runs_url(identity_id: int, export_name: str) -> str:
    return f"{reverse('recent_files')}?{urlencode({'identity': identity_id, 'q': export_name, 'expired': '1'})}"


def open_misses(identity_ids: Collection[int], now: datetime, limit: int = BANNER_LIMIT) -> tuple[list[OpenMiss], int]:
    """The open misses of these identities' enabled expectations, oldest deadline first (the longest-missing file
    is the most urgent, as the attention order puts the oldest problem first), and how many there are in all.

    Usually none is open anywhere, which one cheap query tells (the partial index holds only open rows): the query
    that reads them, with their export and identity joined and the user's identities listed, cost 2 ms of every
    Recent Files page to build in Python. When some are open: the rows, and one over the limit to know whether
    there are more; counted in a third query only then.
    """
    if not identity_ids or not Missing.objects.filter(arrived_at__isnull=True).exists():
        return [], 0
    misses = (
        Missing.objects.filter(
            arrived_at__isnull=True,
            expectation__enabled=True,
            expectation__export__identity_id__in=list(identity_ids),
        )
        .select_related("expectation__export__identity")
        .order_by("expected_by", "pk")
    )
    rows = list(misses[: limit + 1])
    total = len(rows) if len(rows) <= limit else misses.count()
    return [_open_miss(miss, now) for miss in rows[:limit]], total


def _open_miss(miss: Missing, now: datetime) -> OpenMiss:
    export = miss.expectation.export
    return OpenMiss(
        pk=miss.pk,
        words=news.expected_words(miss, now),
        export_name=export.name,
        identity_title=export.identity.title,
        expected_by=miss.expected_by,
        runs_url=runs_url(export.identity_id, export.name),
    )


@dataclass(frozen=True)
class ExpectationState:
    """One expectation as `schedules/_expectation.html` shows it."""

    expectation: Expectation
    rule: str  # "A good run by 07:00, weekdays (Monday to Friday)"
    next_deadline: datetime | None  # None while disabled
    last_deadline: datetime | None  # the last deadline judged
    last_result: str  # "met", "missed" (still nothing), "late" (arrived after it), or "" (none judged yet)
    last_words: str
    open_miss: Missing | None  # the oldest miss still waiting for its file


def expectation_state(expectation: Expectation, now: datetime) -> ExpectationState:
    """Three small queries (the last judged deadline's miss, the oldest open miss): for the per-export view and the
    Schedules page, which show a few expectations each."""
    last = expectation.checked_through
    last_miss = Missing.objects.filter(expectation=expectation, expected_by=last).first() if last else None
    if last is None:
        result, words = "", "Not judged yet"
    elif last_miss is None:
        result, words = "met", "A good run came in time"
    elif last_miss.arrived_at is None:
        result, words = "missed", news.expected_words(last_miss, now)
    else:
        result, words = "late", news.arrived_words(last_miss)
    open_miss = expectation.misses.filter(arrived_at__isnull=True).order_by("expected_by").first()
    return ExpectationState(
        expectation=expectation,
        rule=f"A good run by {expectation.by_time:%H:%M}, {expectation.days_words}",
        next_deadline=watchdog.next_deadline(expectation, now) if expectation.enabled else None,
        last_deadline=last,
        last_result=result,
        last_words=words,
        open_miss=open_miss,
    )
