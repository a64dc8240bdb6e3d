"""When to refresh: each identity's cadence (fast while files run, slow when all are settled, per-identity
overrides, jitter), backoff after failures, each credential's share of WebAdMIT's hourly call budget, and which
identities are due.

Models and clocks only, no HTTP and no tasks. The schedule lives in the database (next_refresh_at,
refresh_queued_at, Credential.backoff_until and cadence_factor), so a restarted worker or beat picks up exactly
where it left off. What it decides about a credential is written by `credentials`.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from webadmit_dash.core.models import Credential, EngineHeartbeat, ExportFile, UserIdentity
from webadmit_dash.engine import credentials
from webadmit_dash.webadmit.statuses import RUNNING

logger = logging.getLogger(__name__)
# After "Start run" (E4) the new file may not be in E6 yet; stay fast this long regardless.
RUN_STARTED_WINDOW = timedelta(minutes=2)
JITTER = 0.1  # +-10% on every interval, so identities imported together drift apart instead of firing together
BACKOFF_CAP = timedelta(minutes=15)
RATE_LIMITED_MINIMUM_WAIT = timedelta(seconds=60)
# A dispatched task not started within this long is assumed lost (e.g. a purged queue) and may be sent again.
QUEUED_EXPIRY = timedelta(minutes=2)
EXPORTS_RESYNC_EVERY = timedelta(hours=1)  # renamed exports show within the hour
EXPORTS_RETRY_AFTER = timedelta(minutes=1)  # the least time between two E3 calls for one identity

# The rate budget. Scheduled refreshes (E6) may use this share of the hourly limit; the rest is kept for the
# hourly E3 resyncs, downloads (E5), starting runs (E4), "Refresh now" and keys shared with other tools.
BUDGET_SHARE = 0.8
# Below this share of the limit remaining (X-RateLimit-Remaining), cadences stretch further, in proportion.
LOW_REMAINING = 0.15
MAX_STRETCH = 20.0
MAX_INTERVAL = timedelta(hours=1)  # stretched cadences never exceed this: refreshing slows but never stops
RATE_SAMPLE_EVERY = timedelta(seconds=60)
RATE_SAMPLE_TRUSTED_FOR = timedelta(hours=1)  # WebAdMIT's window is an hour: older samples say nothing


# --- Cadence -----------------------------------------------------------------------------------------------------


def fast_interval(identity: UserIdentity) -> int:
    return identity.fast_interval or settings.WEBADMIT_FAST_INTERVAL


def slow_interval(identity: UserIdentity) -> int:
    return identity.slow_interval or settings.WEBADMIT_SLOW_INTERVAL


def base_interval(identity: UserIdentity, *, running: bool, now: datetime) -> int:
    """Seconds between refreshes before any stretching: fast while a file runs or a run was just started."""
    just_started = identity.run_started_at is not None and now - identity.run_started_at < RUN_STARTED_WINDOW
    return fast_interval(identity) if running or just_started else slow_interval(identity)


def jittered(delay: timedelta, spread: float = JITTER) -> timedelta:
    return delay * random.uniform(1 - spread, 1 + spread)


def next_refresh_at(identity: UserIdentity, *, running: bool, now: datetime) -> datetime:
    """When a successful refresh schedules the next one: the cadence, stretched by the credential's budget."""
    base = timedelta(seconds=base_interval(identity, running=running, now=now))
    stretched = min(base * identity.credential.cadence_factor, max(base, MAX_INTERVAL))
    return now + jittered(stretched)


def backoff_delay(identity: UserIdentity, failures: int) -> timedelta:
    """Exponential backoff from the fast interval, capped, with 'equal jitter' (half fixed, half random)."""
    doublings = min(max(failures - 1, 0), 30)  # past the cap anyway; keeps the power from overflowing
    ceiling = min(timedelta(seconds=fast_interval(identity)) * 2**doublings, BACKOFF_CAP)
    return ceiling * random.uniform(0.5, 1.0)


def rate_limited_wait(identity: UserIdentity, retry_after: float | None, failures: int) -> timedelta:
    """How long a credential pauses after a 429: WebAdMIT's Retry-After when given, else backoff (at least 60 s)."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    return max(backoff_delay(identity, failures), RATE_LIMITED_MINIMUM_WAIT)


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


def cadence_factor(credential: Credential, demand_per_hour: float, now: datetime) -> float:
    """How much to stretch a credential's cadences so its identities' demand fits the budget (>= 1)."""
    capacity = BUDGET_SHARE * credential.rate_limit_per_hour
    remaining = credential.rate_limit_remaining
    seen_at = credential.rate_limit_seen_at
    if remaining is not None and seen_at is not None and now - seen_at < RATE_SAMPLE_TRUSTED_FOR:
        # Someone else may be spending the same key; when little is left, slow down in proportion.
        capacity *= min(1.0, max(remaining / (LOW_REMAINING * credential.rate_limit_per_hour), 1 / MAX_STRETCH))
    return min(max(1.0, demand_per_hour / capacity), MAX_STRETCH)


def update_cadence_factors(now: datetime) -> None:
    """Recomputes each credential's stretch from the E6 calls its active identities would make per hour at their
    unstretched cadence."""
    running = ExportFile.objects.filter(identity=OuterRef("pk"), gone_at__isnull=True, status__in=RUNNING)
    demand: dict[int, float] = defaultdict(float)
    identities = UserIdentity.objects.filter(enabled=True, paused=False).annotate(running=Exists(running))
    for identity in identities.only("credential_id", "fast_interval", "slow_interval", "run_started_at"):
        interval = base_interval(identity, running=identity.running, now=now)
        demand[identity.credential_id] += 3600 / interval
    for credential in Credential.objects.filter(pk__in=list(demand)):
        factor = cadence_factor(credential, demand[credential.pk], now)
        # Small drifts are not worth a write every few seconds.
        if abs(factor - credential.cadence_factor) > 0.05 * credential.cadence_factor:
            credentials.save_cadence_factor(credential, factor)


def rate_limited_factor(credential: Credential) -> float:
    """The stretch after a 429: at least double, so the dispatcher slows down until WebAdMIT reports a healthy
    X-RateLimit-Remaining again."""
    return min(max(credential.cadence_factor * 2, 2.0), MAX_STRETCH)


# --- Dispatching ---------------------------------------------------------------------------------------------------


def queueable(now: datetime) -> QuerySet[UserIdentity]:
    """Identities a refresh may be queued for now, due or not: enabled, not paused, not already queued, and whose
    credential is not waiting out WebAdMIT's Retry-After. (Refresh now asks for this; the dispatcher for more.)"""
    return (
        UserIdentity.objects.filter(enabled=True, paused=False)
        .filter(Q(refresh_queued_at__isnull=True) | Q(refresh_queued_at__lt=now - QUEUED_EXPIRY))
        .filter(Q(credential__backoff_until__isnull=True) | Q(credential__backoff_until__lte=now))
    )


def due_identities(now: datetime) -> QuerySet[UserIdentity]:
    """Identities to refresh now: queueable, due, not running, and whose key is not rejected. Most overdue first."""
    return (
        queueable(now)
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


def record_heartbeat(now: datetime) -> None:
    """Notes that the dispatcher ran, so pages (and /readyz) can tell when beat or the worker has stopped."""
    name = EngineHeartbeat.DISPATCHER
    if not EngineHeartbeat.objects.filter(name=name).update(beat_at=now):
        EngineHeartbeat.objects.update_or_create(name=name, defaults={"beat_at": now})
