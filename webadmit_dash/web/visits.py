"""Visits to Recent Files, behind "New since you last looked".

A visit is a run of full page loads of Recent Files with no gap longer than VISIT_GAP between two of them; the
htmx poll, paging and filtering never count (they are the same look at the list, not a new one). When a new visit
begins, the moment its user last looked is the previous visit's *last* page load (UserPreference.last_seen_at), not
its start: files that came during that visit were already in front of them then, and marking them again would make
"new" mean "in the last visits" rather than "since I last looked". That moment is kept for the whole of the new
visit (UserPreference.previous_visit_at), so reloading the page does not make the marks vanish.

Each page load costs one read and one UPDATE (an INSERT the first time): never a query on the poll, which carries the
moment in its URL (web/views/recent.py PollState).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User

from webadmit_dash.core.models import UserPreference

VISIT_GAP = timedelta(minutes=30)


def page_load(user: User, now: datetime) -> datetime | None:
    """Records a full page load of Recent Files at `now`; returns since when its files count as new (None on the
    first visit ever, when nothing is new to anyone)."""
    row = (
        UserPreference.objects.filter(user=user)
        .values_list("pk", "visit_started_at", "last_seen_at", "previous_visit_at")
        .first()
    )
    if row is None:
        UserPreference.objects.get_or_create(user=user, defaults={"visit_started_at": now, "last_seen_at": now})
        return None
    pk, started, last_seen, previous = row
    if last_seen is None or now - last_seen > VISIT_GAP:
        started, previous = now, last_seen
    UserPreference.objects.filter(pk=pk).update(visit_started_at=started, last_seen_at=now, previous_visit_at=previous)
    return previous


def last_looked(user: User) -> datetime | None:
    """Since when files count as new for the current visit, without counting a page load (paging, filtering)."""
    moment: datetime | None = (
        UserPreference.objects.filter(user=user).values_list("previous_visit_at", flat=True).first()
    )
    return moment
