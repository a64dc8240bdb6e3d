"""The Recent Files date filter: which days a run was first seen on, in the user's time zone.

One meaning on every surface (the page, its poll, its CSV, the API): a file is kept when WebAdMIT's run was first
seen by the dashboard (ExportFile.first_seen_at) within the range, and days begin at midnight in the zone the
user's times are shown in, so "today" is the user's today. Midnight is found per day from the zone's rules, so a
day that is 23 or 25 hours long (a DST change) is still one day, and a zone whose clocks skip midnight starts the
day at its first real moment.

In the URL: `when=today|yesterday|7d`, or `seen_from=YYYY-MM-DD` and/or `seen_to=YYYY-MM-DD` (days, both included),
and `seen_after=<instant>` for "new since you last looked" (web/visits.py). A page drops what it cannot read and says
why in words (`problems`); the API refuses the same words with a 422 (api/schemas.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.db.models import Q
from django.http import QueryDict

from webadmit_dash.web import params

# The presets, as the URL spells them and the filter's menu words them.
PRESETS = {"today": "Today", "yesterday": "Yesterday", "7d": "Last 7 days"}
CUSTOM = "custom"
# Years a range may name: enough for any run, and far from the calendar's ends, where a day plus its zone's offset
# would fall off the datetime range.
_YEARS = (2000, 2999)
FIRST_DAY, LAST_DAY = date(_YEARS[0], 1, 1), date(_YEARS[1], 12, 31)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadRange(ValueError):
    """A range that cannot be used, with the words that say why (shown on the page, or the API's 422)."""


def read_day(raw: str, name: str) -> date:
    """The day `raw` spells as YYYY-MM-DD; BadRange in words for anything else."""
    if _DAY.fullmatch(raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            pass
        else:
            if _YEARS[0] <= day.year <= _YEARS[1]:
                return day
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    raise BadRange(f"“{shown}” is not a date for {name}: write it as YYYY-MM-DD, e.g. 2026-12-01.")


def read_instant(raw: str) -> datetime | None:
    """An ISO 8601 moment with its offset (as `seen_after` carries it), or None."""
    if not raw or len(raw) > 40:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if moment.tzinfo is None or not _YEARS[0] <= moment.year <= _YEARS[1]:
        return None
    return moment.astimezone(UTC)


def instant(moment: datetime) -> str:
    """A moment as a URL carries it (read back by read_instant): UTC, to the microsecond."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_order(start: date | None, end: date | None) -> None:
    if start and end and start > end:
        raise BadRange(
            f"The dates are the wrong way round: from {_words(start)} is after to {_words(end)}. "
            "Pick a start on or before the end."
        )


def _words(day: date) -> str:
    return f"{day.day} {day.strftime('%b %Y')}"


def midnight(day: date, zone: tzinfo) -> datetime:
    """The first moment of `day` in `zone`, in UTC. A wall-clock midnight the zone skips (clocks jump from 00:00 to
    01:00) is read with the offset before the jump, which lands on the day's first real moment."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class DateRange:
    """A range of days a file's run was first seen in (and/or after a moment); empty when not filtered."""

    when: str = ""  # a PRESETS key, CUSTOM (dates below), or "" (any date)
    start: date | None = None  # custom: the first day kept
    end: date | None = None  # custom: the last day kept
    after: datetime | None = None  # new since this moment (the link of "N new since you last looked")
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, query: QueryDict) -> DateRange:
        """The range a URL asks for. Never raises: what cannot be read is left out, and said in `problems`."""
        when = params.text(query, "when", max_length=20)
        problems: list[str] = []
        after = read_instant(params.text(query, "seen_after", max_length=60))
        if when in PRESETS:
            return cls(when=when, after=after)
        days: dict[str, date | None] = {}
        for name, words in (("seen_from", "“from”"), ("seen_to", "“to”")):
            raw = params.text(query, name, max_length=60)
            days[name] = None
            if raw:
                try:
                    days[name] = read_day(raw, words)
                except BadRange as bad:
                    problems.append(str(bad))
        start, end = days["seen_from"], days["seen_to"]
        try:
            check_order(start, end)
        except BadRange as bad:
            return cls(after=after, problems=(*problems, str(bad)))
        if start is None and end is None:
            return cls(after=after, problems=tuple(problems))
        return cls(when=CUSTOM, start=start, end=end, after=after, problems=tuple(problems))

    @property
    def active(self) -> bool:
        return bool(self.when or self.after)

    def params(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if self.when in PRESETS:
            pairs.append(("when", self.when))
        if self.start:
            pairs.append(("seen_from", self.start.isoformat()))
        if self.end:
            pairs.append(("seen_to", self.end.isoformat()))
        if self.after:
            pairs.append(("seen_after", instant(self.after)))
        return pairs

    def days(self, today: date) -> tuple[date | None, date | None]:
        """The first and last day kept (None: open on that side)."""
        if self.when == "today":
            return today, today
        if self.when == "yesterday":
            yesterday = today - timedelta(days=1)
            return yesterday, yesterday
        if self.when == "7d":
            return today - timedelta(days=6), today
        return self.start, self.end

    def condition(self, now: datetime, zone: tzinfo, column: str = "first_seen_at") -> Q:
        """The files kept, as a condition on first_seen_at (or on `column`, an alias of it); days begin at
        midnight in `zone`."""
        condition = Q()
        for lookup, moment in self.bounds(now, zone):
            condition &= Q(**{f"{column}__{lookup}": moment})
        return condition

    def bounds(self, now: datetime, zone: tzinfo) -> list[tuple[str, datetime]]:
        """(lookup, moment) pairs on first_seen_at that make `condition`: the same range always gives the same
        pairs, so they also name it (the status counts are cached under them: web/listing.py counts)."""
        pairs: list[tuple[str, datetime]] = []
        first, last = self.days(now.astimezone(zone).date())
        if first is not None:
            pairs.append(("gte", midnight(first, zone)))
        if last is not None:
            pairs.append(("lt", midnight(last + timedelta(days=1), zone)))
        if self.after is not None:
            pairs.append(("gt", self.after))
        return pairs
