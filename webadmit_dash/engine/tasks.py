"""Celery tasks: thin, keyword-only and id-based; the work is done by plain functions tested without Celery.

Failed refreshes are not retried with Celery's `retry()`. `refresh.refresh_identity` records the failure and
schedules the next attempt (exponential backoff with jitter, or WebAdMIT's Retry-After) in `next_refresh_at`, and
the dispatcher sends it when due. One place decides timing, the rate budget sees every attempt, and a pending retry
survives a worker restart because it lives in the database rather than in a broker message's countdown.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webadmit_dash.engine import apply, collecting, healing, interactive, refresh, schedule
from webadmit_dash.engine.terms import Outcome

logger = logging.getLogger(__name__)

_REFRESH_LIMIT = refresh.refresh_time_limit()


@shared_task(name="webadmit_dash.engine.tasks.dispatch_due_refreshes", acks_late=False, ignore_result=True)
def dispatch_due_refreshes() -> int:
    """Beat runs this every few seconds: one refresh task per identity that is due (a paused identity's check is
    its refresh), and one check per rejected key that is due. Not acknowledged late: if it is lost, the next beat a
    few seconds later does the same work. A credential whose row holds nonsense is logged and skipped by the
    schedule's steps, never stopping the others."""
    dispatched = schedule.dispatch(timezone.now())
    for identity_id in dispatched.identity_ids:
        enqueue_refresh(identity_id)
    for credential_id in dispatched.key_check_ids:
        enqueue_key_check(credential_id)
    return len(dispatched.identity_ids)


@shared_task(
    name="webadmit_dash.engine.tasks.run_refresh",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=_REFRESH_LIMIT,
    time_limit=_REFRESH_LIMIT + 5,
    ignore_result=True,
)
def run_refresh(*, identity_id: int) -> str:
    """One refresh of one identity, in the background. Acknowledged late, so a worker lost mid-refresh leaves the
    message to be delivered again; a delivery after the work was done is harmless (per-identity lock, conditional
    writes).

    The time limits bind under the prefork pool; a thread cannot be interrupted, so under `--pool=threads` the
    client's connect and read timeouts are what bound a refresh, which is what refresh_time_limit() counts on.
    """
    return refresh.refresh_identity(identity_id).outcome.value


# How often a refresh that must follow the running one looks again for its lock, and how long it keeps looking: until
# that lock has certainly expired (a refresh never holds it longer).
_AFTER_CURRENT_EVERY = 1
_AFTER_CURRENT_TRIES = int(refresh.lock_ttl().total_seconds()) // _AFTER_CURRENT_EVERY + 1


@shared_task(
    name="webadmit_dash.engine.tasks.run_refresh_after_current",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=_REFRESH_LIMIT,
    time_limit=_REFRESH_LIMIT + 5,
    ignore_result=True,
    max_retries=_AFTER_CURRENT_TRIES,
)
def run_refresh_after_current(self: Any, *, identity_id: int) -> str:
    """A refresh that must start after the one running now: WebAdMIT said a file changed (its callback) while a
    refresh was under way, which may have read WebAdMIT before the change. Where run_refresh would be skipped
    (the lock is held), this one waits for the lock, a second at a time. Not a retry after a failure (those are
    the dispatcher's, see above): a wait for a lock that is freed within the refresh's time limit."""
    outcome = refresh.refresh_identity(identity_id).outcome
    if outcome is Outcome.SKIPPED and refresh.is_locked(identity_id):
        raise self.retry(countdown=_AFTER_CURRENT_EVERY)
    return outcome.value


@shared_task(
    name="webadmit_dash.engine.tasks.check_key",
    acks_late=True,
    soft_time_limit=_REFRESH_LIMIT,
    time_limit=_REFRESH_LIMIT + 5,
    ignore_result=True,
)
def check_key(*, credential_id: int) -> bool | None:
    """The check of a rejected key (one call); a lost or repeated one is harmless: the claim expires, and a
    check of a key accepted meanwhile does nothing."""
    return healing.check_key(credential_id)


@shared_task(name="webadmit_dash.engine.tasks.prune_history", ignore_result=True)
def prune_history() -> dict[str, int]:
    keep = timedelta(days=settings.WEBADMIT_RETENTION_DAYS)
    now = timezone.now()
    result = apply.prune_history(now, keep=keep)
    calls = interactive.forget_old_calls(now) + collecting.forget_old_calls(now)
    logger.info("Pruned %s status changes and %s gone files", result.status_changes, result.gone_files)
    return {"status_changes": result.status_changes, "gone_files": result.gone_files, "interactive_calls": calls}


def enqueue_refresh(identity_id: int) -> None:
    """Sends a refresh once the current transaction commits, so the worker sees what the caller just wrote."""
    transaction.on_commit(lambda: run_refresh.delay(identity_id=identity_id))


def enqueue_refresh_after_current(identity_id: int) -> None:
    """Sends a refresh that waits for the running one to end (see run_refresh_after_current), after commit."""
    transaction.on_commit(lambda: run_refresh_after_current.delay(identity_id=identity_id))


def enqueue_key_check(credential_id: int) -> None:
    transaction.on_commit(lambda: check_key.delay(credential_id=credential_id))
