"""The watchdog's outbox, for the notifications app: misses not told yet, all-clears not told yet, their words.

Imports only core and schedules.models (never the engine), so notifications may read it. A miss is told once
(`told_at`); its all-clear is told once (`cleared_told_at`), and only for a miss that was told: a file that arrived
late before anyone heard it was missing is no news. Stamping is conditional, so a job delivered twice tells once.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from webadmit_dash.core.text import one_line
from webadmit_dash.schedules.models import Missing

MISSING = "missing"
ARRIVED_LATE = "arrived_late"


def _misses() -> QuerySet[Missing]:
    return Missing.objects.filter(
        expectation__enabled=True, expectation__export__identity__enabled=True
    ).select_related("expectation__export__identity", "arrived")


def untold_missing() -> list[Missing]:
    """Misses nobody has been told of, still open, oldest deadline first."""
    return list(_misses().filter(told_at__isnull=True, arrived_at__isnull=True).order_by("expected_by", "pk"))


def untold_all_clear() -> list[Missing]:
    """Told misses whose file has since arrived, with the all-clear not told yet."""
    return list(
        _misses()
        .filter(told_at__isnull=False, arrived_at__isnull=False, cleared_told_at__isnull=True)
        .order_by("arrived_at", "pk")
    )


def mark_told(misses: Iterable[Missing], now: datetime, *, all_clear: bool = False) -> int:
    """Stamps misses (or their all-clears) as told; returns how many this call stamped (0 for a repeat)."""
    stamp = "cleared_told_at" if all_clear else "told_at"
    ids = [miss.pk for miss in misses]
    return Missing.objects.filter(pk__in=ids, **{f"{stamp}__isnull": True}).update(**{stamp: now})


def _local(moment: datetime) -> datetime:
    return moment.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE))


def _duration(span: timedelta) -> str:
    """ "42 minutes", "1 hour 5 minutes", "2 days": as precise as a reader needs."""
    minutes = max(int(span.total_seconds() // 60), 1)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        words = f"{hours} hour{'s' if hours != 1 else ''}"
        return f"{words} {rest} minute{'s' if rest != 1 else ''}" if rest else words
    days = minutes // (24 * 60)
    return f"{days} day{'s' if days != 1 else ''}"


def expected_words(miss: Missing, now: datetime | None = None) -> str:
    """ "Expected by 07:00, nothing yet", with the day when the deadline is not of the day it is read (`now`; for a
    message, the day it was noticed)."""
    expected = _local(miss.expected_by)
    when = f"{expected:%H:%M}"
    if _local(now or miss.detected_at).date() != expected.date():
        when = f"{when} on {expected:%A} {expected.day} {expected:%B}"
    return f"Expected by {when}, nothing yet"


def arrived_words(miss: Missing) -> str:
    """ "Arrived at 07:42, 42 minutes late" (with the day when it came on another day than expected)."""
    assert miss.arrived_at is not None
    arrived, expected = _local(miss.arrived_at), _local(miss.expected_by)
    when = f"{arrived:%H:%M}"
    if arrived.date() != expected.date():
        when = f"{when} on {arrived:%A} {arrived.day} {arrived:%B}"
    return f"Arrived at {when}, {_duration(miss.arrived_at - miss.expected_by)} late"


@dataclass(frozen=True)
class Notice:
    """What one message says and whom it is about; the notifications app records it as an Event."""

    kind: str  # MISSING or ARRIVED_LATE
    key: str  # unique per miss and kind: the Event's key
    identity_id: int
    identity_name: str
    export_name: str
    subject: str
    text: str
    occurred_at: datetime
    export_file_id: int | None = None  # the late run, for an all-clear


def notice(miss: Missing, *, all_clear: bool = False) -> Notice:
    """The miss (or its all-clear) in words: "Nightly Banner Export: expected by 07:00, nothing yet"."""
    export = miss.expectation.export
    identity = export.identity
    if all_clear:
        assert miss.arrived_at is not None
        words, kind, occurred, subject = arrived_words(miss), ARRIVED_LATE, miss.arrived_at, "Arrived late"
    else:
        words, kind, occurred, subject = expected_words(miss), MISSING, miss.expected_by, "Missing"
    return Notice(
        kind=kind,
        key=f"{kind}:{miss.pk}",
        identity_id=identity.pk,
        identity_name=identity.display_name,
        export_name=export.name,
        # Names are WebAdMIT's free text: a line break must not reach a mail header.
        subject=one_line(f"{subject}: {export.name} ({identity.title})", 200),
        text=f"{export.name}: {words[0].lower()}{words[1:]}",
        occurred_at=occurred,
        export_file_id=miss.arrived_id if all_clear else None,
    )
