"""Freshness and problems: how recently each identity was refreshed, and the banners saying what is wrong.

Both pages show them: Recent Files as a strip of the identities needing attention first, the Identities page as
its whole table; the banners say, in plain words, what is wrong and what to do about it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from webadmit_dash.core.models import Credential, EngineHeartbeat, UserIdentity
from webadmit_dash.core.problems import NEXT_CHECK_AT, NEXT_CHECK_SOON, BannerLevel, ErrorKind, kind_of, meaning
from webadmit_dash.engine.terms import JITTER, LONGEST_CADENCE
from webadmit_dash.shared.templatetags.display import time_ago
from webadmit_dash.web.common import IdentityRow

# How an identity's refreshing stands, as the strip and the Identities page say it.
SourceState = Literal["ok", "late", "error", "paused", "new"]

# Identities shown in the freshness strip; the rest are one click away on the Identities page.
SOURCES_SHOWN = 6


@dataclass(frozen=True)
class Source:
    """One identity as the freshness strip shows it."""

    identity: IdentityRow
    state: SourceState
    note: str
    busy: bool  # a refresh is queued or running right now
    stale_since: datetime | None = None  # see stale_since(): what its files are "as of", when not current

    @property
    def needs_attention(self) -> bool:
        return self.state in {"error", "paused", "late"}

    @property
    def label(self) -> str:
        """The state on its own, where the time of the last refresh has a column of its own: the strip's notes
        for these two states lead into that time ("Late: last refreshed 2 h ago")."""
        return {"ok": "Up to date", "late": "Late"}.get(self.state, self.note)


@dataclass(frozen=True)
class Cadence:
    """What lateness is measured against, read once: settings lookups add up over 500 identities."""

    fast: int  # the site's fast interval (WEBADMIT_FAST_INTERVAL), for identities without their own
    grace: timedelta  # a few missed dispatcher runs, at least a minute: less is ordinary queueing

    @classmethod
    def current(cls) -> Cadence:
        return cls(settings.WEBADMIT_FAST_INTERVAL, timedelta(seconds=settings.BEAT_LATE_AFTER))

    def is_late(self, identity: IdentityRow | UserIdentity, now: datetime) -> bool:
        """Its refresh is overdue (the engine's cadence adapts to the budget, so its own schedule is what to hold it
        to), or, whatever the schedule says, nothing succeeded for twice the longest cadence."""
        last = identity.last_success_at
        if last is None:
            return False
        overdue = identity.next_refresh_at is not None and now - identity.next_refresh_at > self.grace
        longest = max(timedelta(seconds=identity.slow_interval or 0) * (1 + JITTER), LONGEST_CADENCE)
        return overdue or now - last > 2 * longest + self.grace


def stale_since(identity: IdentityRow | UserIdentity, now: datetime, cadence: Cadence) -> datetime | None:
    """When the identity's files were last read from WebAdMIT, if that is older than it should be; else None.

    Older than it should be: its refreshes fail (or are paused) and two fast refreshes have been missed since the
    last good one, so a single failed refresh between good ones does not flash; or, failing or not, it is late
    (see Cadence.is_late). Its rows then say "as of 14:05" and the page's title is marked.
    """
    last = identity.last_success_at
    if last is None:
        return None  # never refreshed: it has no files to be stale
    if (identity.error_kind or identity.paused) and now - last > timedelta(
        seconds=2 * (identity.fast_interval or cadence.fast)
    ):
        return last
    return last if cadence.is_late(identity, now) else None


def _source(identity: IdentityRow, now: datetime, cadence: Cadence) -> Source:
    busy = bool(identity.refresh_queued_at or (identity.refreshing_until and identity.refreshing_until > now))
    kind = kind_of(identity.error_kind).label if identity.error_kind else ""
    if identity.paused:
        return Source(
            identity, "paused", f"Paused ({kind})" if kind else "Paused", busy, stale_since(identity, now, cadence)
        )
    if identity.error_kind:
        return Source(identity, "error", f"Last refresh failed ({kind})", busy, stale_since(identity, now, cadence))
    if identity.last_success_at is None:
        return Source(identity, "new", "Not refreshed yet", busy)
    if cadence.is_late(identity, now):
        # Late is stale (stale_since): its files are as of its last good refresh.
        return Source(identity, "late", "Late: last refreshed", busy, identity.last_success_at)
    return Source(identity, "ok", "Refreshed", busy)


def survey(
    identities: Sequence[IdentityRow], now: datetime, limit: int | None
) -> tuple[list[Source], dict[int, datetime]]:
    """The strip's sources (see sources) and, from the same pass over every identity, {identity pk: since when its
    files are stale} for the identities that are (stale_since)."""
    every = _sources(identities, now)
    stale = {source.identity.pk: source.stale_since for source in every if source.stale_since is not None}
    return _shown(every, limit), stale


def sources(identities: Sequence[IdentityRow], now: datetime, limit: int | None) -> list[Source]:
    return _shown(_sources(identities, now), limit)


def _sources(identities: Sequence[IdentityRow], now: datetime) -> list[Source]:
    cadence = Cadence.current()
    return [_source(identity, now, cadence) for identity in identities]


def _shown(sources: list[Source], limit: int | None) -> list[Source]:
    if limit is None or len(sources) <= limit:
        return sources
    # Too many to show: those needing attention first, then the least recently refreshed.
    oldest = datetime.min.replace(tzinfo=UTC)
    sources.sort(key=lambda s: (not s.needs_attention, s.identity.last_success_at or oldest))
    return sources[:limit]


@dataclass(frozen=True)
class Problem:
    """A banner: what is wrong, in plain words, and what to do about it."""

    level: BannerLevel
    title: str
    detail: str
    next_step: str
    link: str = ""
    link_text: str = ""


def _names(identities: Sequence[IdentityRow], shown: int = 3) -> str:
    names = [identity.display_name for identity in identities[:shown]]
    if len(identities) > shown:
        names.append(f"{len(identities) - shown} more")
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


def worker_state(beat: datetime | None, now: datetime) -> Literal["none", "late", "ok"]:
    """Whether the worker's beat has checked in (EngineHeartbeat), and lately: the banners' rule, and what time alone
    changes of it (web/time_signature.py)."""
    if beat is None:
        return "none"
    return "late" if now - beat > timedelta(seconds=settings.BEAT_LATE_AFTER) else "ok"


def problems(
    identities: Sequence[IdentityRow], credentials: Mapping[int, Credential], now: datetime, user: User
) -> list[Problem]:
    """The banners for these identities; `credentials` maps their credential ids (common.credentials)."""
    problems: list[Problem] = []
    beat = EngineHeartbeat.last_beat()
    worker = worker_state(beat, now)
    if identities and beat is None:
        problems.append(
            Problem(
                "warning",
                "Refreshes have not started",
                "The background worker has not checked in yet, so the statuses below are only as fresh as "
                "the last refresh.",
                "If this lasts more than a minute, ask whoever runs webadmit-dash to start the worker with beat "
                "(celery -A webadmit_dash worker --beat).",
            )
        )
    elif identities and beat is not None and worker == "late":
        problems.append(
            Problem(
                "error",
                "Refreshes are late",
                # A relative time the browser ages (static/js/app.js): the banner is not re-rendered as it grows.
                format_html(
                    "The background worker last checked in {}, so the statuses below may be out of date.",
                    time_ago(beat, now),
                ),
                "Ask whoever runs webadmit-dash to check that the worker and beat are running. This page "
                "catches up by itself once they are.",
            )
        )

    by_kind: dict[tuple[str, int], list[IdentityRow]] = defaultdict(list)
    for identity in identities:
        kind = identity.error_kind
        if not kind and credentials[identity.credential_id].health == Credential.Health.KEY_REJECTED:
            kind = ErrorKind.KEY_REJECTED
        if kind:
            # A rejected key affects all of its identities: one banner per credential, not one per identity.
            group = identity.credential_id if kind == ErrorKind.KEY_REJECTED else 0
            by_kind[(kind, group)].append(identity)
    for (kind, _), affected in by_kind.items():
        problems.append(_identity_problem(kind, affected, credentials[affected[0].credential_id], now, user))
    return problems


def _next_check(kind: str, affected: Sequence[IdentityRow], credential: Credential, now: datetime) -> str:
    """When WebAdMIT is asked again about paused identities, in words: their key's check for a rejected key (the
    first comes a while after the rejection), else the soonest of their own checks."""
    if kind == ErrorKind.KEY_REJECTED:
        when = credential.next_check_at
        if when is None and credential.last_checked_at is not None:
            when = credential.last_checked_at + timedelta(seconds=settings.WEBADMIT_PAUSE_CHECK_FIRST)
    else:
        times = [identity.next_refresh_at for identity in affected if identity.next_refresh_at is not None]
        when = min(times) if times else None
    if when is None or when <= now:
        return NEXT_CHECK_SOON
    return NEXT_CHECK_AT.format(time=timezone.localtime(when).strftime("%H:%M"))


def _identity_problem(
    kind: str, affected: Sequence[IdentityRow], credential: Credential, now: datetime, user: User
) -> Problem:
    """The banner for identities that failed alike, in the words of the error table (core.problems)."""
    explained = meaning(kind)
    fill = {
        "names": _names(affected),
        "credential": credential.name,
        "detail": affected[0].error_message or "unexpected response",
        "these_identities": "these identities" if len(affected) > 1 else "this identity",
        "next_check": _next_check(kind, affected, credential, now) if explained.pauses else "",
    }
    link = ""
    if kind == ErrorKind.KEY_REJECTED and user.is_staff and user.has_perm("dashboard.change_credential"):
        link = reverse("admin:dashboard_credential_change", args=[credential.pk])
    words = explained.banner
    return Problem(
        explained.level,
        words.title.format(**fill),
        words.detail.format(**fill),
        words.next_step.format(**fill),
        link=link,
        link_text="Update the key" if link else "",
    )
