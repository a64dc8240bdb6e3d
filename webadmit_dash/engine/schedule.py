"""When to refresh: each identity's cadence (fast while files run; when all are settled, as often as the key's
settled share of the budget allows, down to a floor; per-identity overrides; jitter), backoff after failures,
the checks that let pauses heal themselves, each credential's share of WebAdMIT's hourly call budget, and which
identities and rejected keys are due.

Models and clocks only, no HTTP and no tasks. The schedule lives in the database (next_refresh_at,
refresh_queued_at, Credential.backoff_until, cadence_factor, settled_interval and next_check_at), so a restarted
worker or beat picks up exactly where it left off. What it decides about a credential is written by `credentials`.
One credential whose row holds nonsense is logged and left as it was; it never stops the others' schedule.
"""

from __future__ import annotations

import logging
import math
import random
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from webadmit_dash.core.models import Credential, EngineHeartbeat, ExportFile, UserIdentity
from webadmit_dash.core.problems import MEANINGS, ErrorKind
from webadmit_dash.engine import credentials
from webadmit_dash.engine.terms import JITTER, MAX_INTERVAL
from webadmit_dash.webadmit.statuses import RUNNING

logger = logging.getLogger(__name__)
# After "Start run" (E4) the new file may not be in E6 yet; stay fast this long regardless.
RUN_STARTED_WINDOW = timedelta(minutes=2)
BACKOFF_CAP = timedelta(minutes=15)
RATE_LIMITED_MINIMUM_WAIT = timedelta(seconds=60)
# A dispatched task not started within this long is assumed lost (e.g. a purged queue) and may be sent again.
QUEUED_EXPIRY = timedelta(minutes=2)
EXPORTS_RESYNC_EVERY = timedelta(hours=1)  # renamed exports show within the hour
EXPORTS_RETRY_AFTER = timedelta(minutes=1)  # the least time between two E3 calls (or two P1 calls) for one identity

# The rate budget. Scheduled refreshes (E6, and P4 for identities that watch PDF Manager batches) may use this share
# of the hourly limit; the rest is kept for the hourly E3 resyncs, the occasional P1 and P5 of PDF Manager, downloads
# (E5), starting runs (E4), "Refresh now" and keys shared with other tools. Of it, settled identities may spend at
# most WEBADMIT_SETTLED_SHARE percent of the limit.
BUDGET_SHARE = 0.8
# Below this share of the limit remaining (X-RateLimit-Remaining), cadences stretch further, in proportion.
LOW_REMAINING = 0.15
MAX_STRETCH = 20.0
RATE_SAMPLE_EVERY = timedelta(seconds=60)
RATE_SAMPLE_TRUSTED_FOR = timedelta(hours=1)  # WebAdMIT's window is an hour: older samples say nothing


# Pauses that heal themselves: an identity paused for one of these kinds is checked again by the dispatcher (its
# own next refresh is the check); one paused for a rejected key waits for its key's check instead.
HEALING_KINDS = [kind for kind, meaning in MEANINGS.items() if meaning.pauses]
# Identities a refresh may run for: not paused, or paused for a reason that heals (the refresh is then its check);
# never one an administrator paused by hand.
REFRESHABLE = Q(paused=False) | Q(error_kind__in=HEALING_KINDS)


# --- Cadence -----------------------------------------------------------------------------------------------------


def fast_interval(identity: UserIdentity) -> int:
    return identity.fast_interval or settings.WEBADMIT_FAST_INTERVAL


def settled_interval(identity: UserIdentity) -> float:
    """Seconds between refreshes of an identity whose files are all settled: its own override, else what its
    key's settled share allows now (the dispatcher's figure; the floor until it has run)."""
    if identity.slow_interval:
        return identity.slow_interval
    shared = identity.credential.settled_interval
    if shared is None or not math.isfinite(shared):
        return settings.WEBADMIT_SLOW_FLOOR
    return min(max(shared, 1.0), MAX_INTERVAL.total_seconds())


def base_interval(identity: UserIdentity, *, running: bool, now: datetime) -> float:
    """Seconds between refreshes before any stretching: fast while a file runs or a run was just started."""
    just_started = identity.run_started_at is not None and now - identity.run_started_at < RUN_STARTED_WINDOW
    return fast_interval(identity) if running or just_started else settled_interval(identity)


def jittered(delay: timedelta, spread: float = JITTER) -> timedelta:
    return delay * random.uniform(1 - spread, 1 + spread)


def stretch_of(credential: Credential) -> float:
    """The credential's cadence factor, read defensively: a nonsense value in its row must not crash refreshes."""
    factor = credential.cadence_factor
    return min(max(factor, 1.0), MAX_STRETCH) if math.isfinite(factor) else 1.0


def next_refresh_at(identity: UserIdentity, *, running: bool, now: datetime) -> datetime:
    """When a successful refresh schedules the next one: the cadence, stretched by the credential's budget."""
    base = timedelta(seconds=base_interval(identity, running=running, now=now))
    stretched = min(base * stretch_of(identity.credential), max(base, MAX_INTERVAL))
    return now + jittered(stretched)


# --- Pauses that heal themselves ---------------------------------------------------------------------------------


def pause_check_step(failed_checks: int) -> timedelta:
    """How long a paused key or identity waits before it is checked again: WEBADMIT_PAUSE_CHECK_FIRST (a minute),
    doubling with each check that failed, up to WEBADMIT_PAUSE_CHECK_MAX (15 min)."""
    doublings = min(max(failed_checks, 0), 30)
    factor: int = 2**doublings  # typed: int ** int is Any to mypy (a negative power would be a float)
    return min(
        timedelta(seconds=settings.WEBADMIT_PAUSE_CHECK_FIRST) * factor,
        timedelta(seconds=settings.WEBADMIT_PAUSE_CHECK_MAX),
    )


def pause_check_delay(failed_checks: int) -> timedelta:
    """The step, jittered only downwards: a banner saying "asked again at ..." is never late, and identities
    paused together drift apart."""
    return pause_check_step(failed_checks) * random.uniform(1 - JITTER, 1.0)


def next_check_at(identity: UserIdentity, failed_checks: int, now: datetime) -> datetime:
    """When a paused identity is checked again; a key short of budget checks less often, like everything else."""
    delay = pause_check_delay(failed_checks)
    return now + min(delay * stretch_of(identity.credential), max(delay, MAX_INTERVAL))


def backoff_delay(identity: UserIdentity, failures: int) -> timedelta:
    """Exponential backoff from the fast interval, capped, with 'equal jitter' (half fixed, half random)."""
    doublings = min(max(failures - 1, 0), 30)  # past the cap anyway; keeps the power from overflowing
    factor: int = 2**doublings  # typed: int ** int is Any to mypy (a negative power would be a float)
    ceiling = min(timedelta(seconds=fast_interval(identity)) * factor, BACKOFF_CAP)
    return ceiling * random.uniform(0.5, 1.0)


def rate_limited_wait(identity: UserIdentity, retry_after: float | None, failures: int) -> timedelta:
    """How long a credential pauses after a 429: WebAdMIT's Retry-After when given, else backoff (at least 60 s)."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    return max(backoff_delay(identity, failures), RATE_LIMITED_MINIMUM_WAIT)


def rate_limited_wait_for_key(retry_after: float | None) -> timedelta:
    """How long a credential pauses after a 429 to a call about no identity (a key's check)."""
    return timedelta(seconds=retry_after) if retry_after is not None else RATE_LIMITED_MINIMUM_WAIT


def calls_per_refresh(identity: UserIdentity) -> int:
    """The calls every refresh of the identity makes: E6, and P4 when it watches PDF Manager batches."""
    return 2 if identity.watch_pdf_batches else 1


def templates_due(identity: UserIdentity, unknown_template_ids: Collection[int], now: datetime) -> bool:
    """Whether this refresh should also call P1: a batch names a template nothing names yet, and P1 was not asked
    within the minute (answered or failed), as for E3. Templates are not read otherwise: a batch's listing names
    its template (see pdf_batches)."""
    checked = identity.templates_checked_at
    return bool(unknown_template_ids) and (checked is None or now - checked >= EXPORTS_RETRY_AFTER)


def exports_due(identity: UserIdentity, unknown_export_ids: Collection[int], now: datetime) -> bool:
    """Whether this refresh should also call E3: an export id nothing names yet, or the hourly resync; never
    within a minute of the last E3 call, answered or failed, so neither an export id E3 does not list nor a
    failing E3 costs an extra call per refresh."""
    checked = identity.exports_checked_at
    if checked is not None and now - checked < EXPORTS_RETRY_AFTER:
        return False
    synced = identity.exports_synced_at
    return synced is None or now - synced >= EXPORTS_RESYNC_EVERY or bool(unknown_export_ids)


# --- The rate budget -----------------------------------------------------------------------------------------------


def should_store_rate_sample(credential: Credential, remaining: int | None, now: datetime) -> bool:
    """Whether a refresh should write X-RateLimit-Remaining to the credential.

    Samples are written at most once a minute, which is plenty while the budget is healthy and keeps an
    unchanged refresh to one written row; when the budget runs low (or was low) every sample counts.
    """
    if remaining is None:
        return False
    seen_at = credential.rate_limit_seen_at
    if seen_at is None or now - seen_at >= RATE_SAMPLE_EVERY:
        return True
    low = LOW_REMAINING * credential.rate_limit_per_hour
    return remaining < low or (credential.rate_limit_remaining or 0) < low


class NonsenseBudget(ValueError):
    """A credential's row holds a budget no schedule can follow (bypassing the admin's validation)."""


def hourly_limit(credential: Credential) -> int:
    limit = credential.rate_limit_per_hour
    if not isinstance(limit, int) or limit < 1:
        raise NonsenseBudget(f"rate_limit_per_hour is {limit!r}; it must be at least 1")
    return limit


def usable_fraction(credential: Credential, now: datetime) -> float:
    """How much of the key's limit is ours to plan with (<= 1): all of it, unless WebAdMIT recently reported
    little left, when someone else may be spending the same key; then in proportion."""
    remaining = credential.rate_limit_remaining
    seen_at = credential.rate_limit_seen_at
    if remaining is not None and seen_at is not None and now - seen_at < RATE_SAMPLE_TRUSTED_FOR:
        return min(1.0, max(remaining / (LOW_REMAINING * hourly_limit(credential)), 1 / MAX_STRETCH))
    return 1.0


def cadence_factor(credential: Credential, demand_per_hour: float, now: datetime) -> float:
    """How much to stretch a credential's cadences so its identities' demand fits the budget (>= 1)."""
    capacity = BUDGET_SHARE * hourly_limit(credential) * usable_fraction(credential, now)
    return min(max(1.0, demand_per_hour / capacity), MAX_STRETCH)


@dataclass
class Demand:
    """The calls a credential's identities would make in an hour at their unstretched cadences."""

    running: float = 0.0  # identities with a running file (or a run just started), at the fast cadence
    settled_own: float = 0.0  # settled identities with their own slow_interval
    settled_own_count: int = 0  # how many those are
    settled_shared: int = 0  # settled identities on the key's shared settled cadence: how many
    settled_shared_batches: int = 0  # how many of those also list PDF Manager batches (P4) on each refresh
    checks: float = 0.0  # paused identities' checks and the key's own

    @property
    def settled_shared_calls(self) -> int:
        """The calls one round of the settled identities on the shared cadence makes (calls_per_refresh each)."""
        return self.settled_shared + self.settled_shared_batches

    def total(self, settled_interval: float) -> float:
        """E6 (and P4) calls and checks; the hourly E3 resyncs live in the rest of the budget (BUDGET_SHARE)."""
        return self.running + self.settled_own + self.settled_shared_calls * 3600 / settled_interval + self.checks

    @property
    def settled_resyncs(self) -> float:
        """The settled identities' hourly E3 resyncs: part of what they spend of their share."""
        return (self.settled_shared + self.settled_own_count) * 3600 / EXPORTS_RESYNC_EVERY.total_seconds()


def shared_settled_interval(credential: Credential, demand: Demand, now: datetime) -> float:
    """Seconds between refreshes of the key's settled identities: as short as WEBADMIT_SLOW_FLOOR while their calls
    fit WEBADMIT_SETTLED_SHARE percent of the key's limit (less what overrides and the settled identities' hourly
    E3 resyncs spend), longer as they grow, and at most MAX_INTERVAL: refreshing slows but never stops."""
    share = settings.WEBADMIT_SETTLED_SHARE / 100 * hourly_limit(credential) * usable_fraction(credential, now)
    room = share - demand.settled_own - demand.settled_resyncs
    longest = MAX_INTERVAL.total_seconds()
    if room <= 0:
        return longest
    return min(max(float(settings.WEBADMIT_SLOW_FLOOR), 3600 * demand.settled_shared_calls / room), longest)


def _demands(now: datetime) -> dict[int, Demand]:
    running = ExportFile.objects.filter(identity=OuterRef("pk"), gone_at__isnull=True, status__in=RUNNING)
    demands: dict[int, Demand] = defaultdict(Demand)
    identities = UserIdentity.objects.filter(enabled=True).filter(REFRESHABLE).annotate(running=Exists(running))
    fields = ("credential_id", "fast_interval", "slow_interval", "run_started_at", "paused", "error_kind")
    for identity in identities.only(*fields, "consecutive_failures", "watch_pdf_batches"):
        demand = demands[identity.credential_id]
        calls = calls_per_refresh(identity)
        if identity.paused:
            # Counted at the current step of its checks (a check is a refresh); a rejected key's identities wait for
            # the key's check.
            if identity.error_kind != ErrorKind.KEY_REJECTED:
                demand.checks += calls * 3600 / pause_check_step(identity.consecutive_failures - 1).total_seconds()
        elif identity.running or (
            identity.run_started_at is not None and now - identity.run_started_at < RUN_STARTED_WINDOW
        ):
            demand.running += calls * 3600 / fast_interval(identity)
        elif identity.slow_interval:
            demand.settled_own += calls * 3600 / identity.slow_interval
            demand.settled_own_count += 1
        else:
            demand.settled_shared += 1
            demand.settled_shared_batches += calls - 1
    for credential_id, failed in Credential.objects.filter(health=Credential.Health.KEY_REJECTED).values_list(
        "pk", "failed_checks"
    ):
        demands[credential_id].checks += 3600 / pause_check_step(failed).total_seconds()
    return demands


def update_cadence_factors(now: datetime) -> None:
    """Recomputes each credential's settled cadence and stretch from the calls its identities would make per hour.

    Each credential on its own: one whose row holds nonsense (a rate limit of 0 written past the admin) is logged
    and keeps its last cadence, and the others are scheduled as usual.
    """
    demands = _demands(now)
    for credential in Credential.objects.filter(pk__in=list(demands)):
        try:
            _update_cadence(credential, demands[credential.pk], now)
        except Exception:
            logger.exception(
                "Credential %s (%s): its cadence could not be computed and is left as it was; the other "
                "credentials are scheduled as usual. Check its settings in the admin.",
                credential.pk,
                credential.name,
            )


def _update_cadence(credential: Credential, demand: Demand, now: datetime) -> None:
    settled = shared_settled_interval(credential, demand, now)
    factor = cadence_factor(credential, demand.total(settled), now)
    current = credential.settled_interval
    # Small drifts are not worth a write every few seconds.
    if (
        current is None
        or abs(settled - current) > 0.05 * current
        or abs(factor - credential.cadence_factor) > 0.05 * credential.cadence_factor
    ):
        credentials.save_cadence(credential, factor=factor, settled_interval=settled)


def rate_limited_factor(credential: Credential) -> float:
    """The stretch after a 429: at least double, so the dispatcher slows down until WebAdMIT reports a healthy
    X-RateLimit-Remaining again."""
    return min(max(credential.cadence_factor * 2, 2.0), MAX_STRETCH)


# --- Dispatching ---------------------------------------------------------------------------------------------------


def eligible(now: datetime) -> Q:
    """What any refresh needs, asked for by a person or by the schedule: an enabled identity, not already queued (or
    queued so long ago the task is assumed lost), whose credential is not waiting out WebAdMIT's Retry-After."""
    return (
        Q(enabled=True)
        & (Q(refresh_queued_at__isnull=True) | Q(refresh_queued_at__lt=now - QUEUED_EXPIRY))
        & (Q(credential__backoff_until__isnull=True) | Q(credential__backoff_until__lte=now))
    )


def queueable(now: datetime) -> QuerySet[UserIdentity]:
    """Identities a refresh may be queued for now, due or not: eligible and not paused. (Refresh now asks for this;
    the dispatcher for more.)"""
    return UserIdentity.objects.filter(eligible(now), paused=False)


def due_identities(now: datetime) -> QuerySet[UserIdentity]:
    """Identities to refresh now: eligible, due, not running, whose key is not rejected (its own check comes
    first). A paused identity is due for its check. Most overdue first."""
    return (
        UserIdentity.objects.filter(eligible(now))
        .filter(REFRESHABLE)
        .filter(Q(next_refresh_at__isnull=True) | Q(next_refresh_at__lte=now))
        .filter(Q(refreshing_until__isnull=True) | Q(refreshing_until__lte=now))
        .exclude(credential__health=Credential.Health.KEY_REJECTED)
        .order_by(F("next_refresh_at").asc(nulls_first=True))
    )


def claim_due_identities(now: datetime) -> list[int]:
    """Marks the due identities as queued and returns their ids; the caller enqueues one task for each.

    On PostgreSQL two overlapping dispatchers skip each other's rows; on SQLite the IMMEDIATE transaction
    serialises them. Either way an identity is claimed once.
    """
    with transaction.atomic():
        ids = list(due_identities(now).select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True))
        if ids:
            UserIdentity.objects.filter(pk__in=ids).update(refresh_queued_at=now)
    return ids


def due_key_checks(now: datetime) -> QuerySet[Credential]:
    """Rejected keys whose check is due: at next_check_at, or a first wait after the rejection was recorded."""
    first = now - timedelta(seconds=settings.WEBADMIT_PAUSE_CHECK_FIRST)
    return (
        Credential.objects.filter(health=Credential.Health.KEY_REJECTED)
        .filter(
            Q(next_check_at__lte=now)
            | Q(next_check_at__isnull=True, last_checked_at__lte=first)
            | Q(next_check_at__isnull=True, last_checked_at__isnull=True)
        )
        .filter(Q(backoff_until__isnull=True) | Q(backoff_until__lte=now))
    )


def claim_due_key_checks(now: datetime) -> list[int]:
    """Claims the due checks of rejected keys (each for QUEUED_EXPIRY: a lost check falls due again then) and
    returns the credentials' ids; the caller enqueues one check for each."""
    claimed = []
    for credential in due_key_checks(now):
        try:
            if credentials.claim_key_check(credential, now + QUEUED_EXPIRY):
                claimed.append(credential.pk)
        except Exception:
            logger.exception("Credential %s: its key check could not be claimed; the others go on", credential.pk)
    return claimed


@dataclass(frozen=True)
class Dispatched:
    """What one dispatcher run claimed: the caller sends one task for each."""

    identity_ids: list[int]  # refreshes (for a paused identity, its check)
    key_check_ids: list[int]  # credentials whose rejected key is checked


def dispatch(now: datetime) -> Dispatched:
    """One run of the dispatcher: recompute each key's cadence, claim what is due, and note that it ran."""
    update_cadence_factors(now)
    dispatched = Dispatched(claim_due_identities(now), claim_due_key_checks(now))
    record_heartbeat(now)
    return dispatched


def record_heartbeat(now: datetime) -> None:
    """Notes that the dispatcher ran, so pages (and /readyz) can tell when beat or the worker has stopped."""
    name = EngineHeartbeat.DISPATCHER
    if not EngineHeartbeat.objects.filter(name=name).update(beat_at=now):
        EngineHeartbeat.objects.update_or_create(name=name, defaults={"beat_at": now})
