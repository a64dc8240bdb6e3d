"""Visits to Recent Files, behind "New since you last looked".

A visit is a run of full page loads of Recent Files with no gap longer than VISIT_GAP between two of them; the
htmx poll, paging and filtering never count (they are the same look at the list, not a new one). When a new visit
begins, the moment its user last looked is the previous visit's *last* page load (UserPreference.last_seen_at), not
its start: files that came during that visit were already in front of them then, and marking them again would make
"new" mean "in the last visits" rather than "since I last looked". That moment is kept for the whole of the new
visit (UserPreference.previous_visit_at), so reloading the page does not make the marks vanish.

The user's row is the truth (so a visit from the phone counts for the laptop); the session keeps a copy of the current
visit, so that a page load inside a visit reads nothing, and writes (the row and the session) only once TOUCH_EVERY
has passed since the last write: the first page stays as cheap as before there were visits. A visit's last page
load is thus known to within TOUCH_EVERY, which "since you last looked" does not notice. Never a query on the poll,
which carries the moment in its URL (web/views/recent.py PollState).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.sessions.backends.base import SessionBase
from django.utils.dateparse import parse_datetime

from webadmit_dash.core.models import UserPreference

VISIT_GAP = timedelta(minutes=30)
# How stale the recorded last page load of a visit may be: page loads closer together than this write nothing.
TOUCH_EVERY = timedelta(minutes=1)
SESSION_KEY = "recent_files_visit"


def page_load(user_id: int, session: SessionBase, now: datetime) -> datetime | None:
    """Records a full page load of Recent Files at `now`; returns since when its files count as new (None on the
    first visit ever, when nothing is new to anyone)."""
    kept = _from_session(session)
    if kept is not None:
        last_seen, previous = kept
        if now - last_seen <= VISIT_GAP:
            if now - last_seen >= TOUCH_EVERY:
                UserPreference.objects.filter(user_id=user_id).update(last_seen_at=now)
                _to_session(session, now, previous)
            return previous
    row = (
        UserPreference.objects.filter(user_id=user_id)
        .values_list("pk", "visit_started_at", "last_seen_at", "previous_visit_at")
        .first()
    )
    if row is None:
        UserPreference.objects.get_or_create(user_id=user_id, defaults={"visit_started_at": now, "last_seen_at": now})
        _to_session(session, now, None)
        return None
    pk, started, last_seen_there, previous = row
    # Another session of the same user may be in this visit already (the phone, another browser): it goes on.
    if last_seen_there is None or now - last_seen_there > VISIT_GAP:
        started, previous = now, last_seen_there
    UserPreference.objects.filter(pk=pk).update(visit_started_at=started, last_seen_at=now, previous_visit_at=previous)
    _to_session(session, now, previous)
    return previous


def last_looked(user_id: int, session: SessionBase) -> datetime | None:
    """Since when files count as new for the current visit, without counting a page load (paging, filtering)."""
    kept = _from_session(session)
    if kept is not None:
        return kept[1]
    moment: datetime | None = (
        UserPreference.objects.filter(user_id=user_id).values_list("previous_visit_at", flat=True).first()
    )
    return moment


def _from_session(session: SessionBase) -> tuple[datetime, datetime | None] | None:
    """(last page load, since when files are new) of this session's visit, or None if it has none or an unreadable
    one (an older release's, or tampered: the session is the server's, so only a bug could make it so)."""
    kept = session.get(SESSION_KEY)
    if not isinstance(kept, list) or len(kept) != 2:
        return None
    last_seen = parse_datetime(kept[0]) if isinstance(kept[0], str) else None
    previous = parse_datetime(kept[1]) if isinstance(kept[1], str) else None
    if last_seen is None or (kept[1] is not None and previous is None):
        return None
    return last_seen, previous


def _to_session(session: SessionBase, last_seen: datetime, previous: datetime | None) -> None:
    session[SESSION_KEY] = [last_seen.isoformat(), previous.isoformat() if previous else None]
