"""Calls to WebAdMIT that a person waits for (Download, Run again), which hold a web server thread while they wait.

A hanging WebAdMIT must not take the web server with it, so these calls are bounded three ways:
- short timeouts of their own (WEBADMIT_INTERACTIVE_CONNECT_TIMEOUT / _READ_TIMEOUT, 3 s and 8 s);
- at most WEBADMIT_INTERACTIVE_CALLS of them at once in one web process (2; gunicorn runs 4 threads), so that a
  burst of clicks while WebAdMIT hangs leaves threads free for everything else: the others are answered at once;
- a circuit breaker per credential, kept in its row so that every web process sees it: a call WebAdMIT does not
  answer opens it, and for WEBADMIT_CIRCUIT_PAUSE seconds (30) every such call is answered at once with the
  message; then one call, claimed by whichever process comes first, is tried (half-open), and its answer closes
  the circuit or opens it again. A key known to be rejected, or waiting out a rate limit, is answered at once too.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from webadmit_dash.core.models import Credential
from webadmit_dash.core.problems import BUSY, HELD_BACK, SHARE_SPENT, TOO_MANY_FOR_ONE, ErrorKind, Words
from webadmit_dash.engine import credentials, schedule
from webadmit_dash.engine.models import InteractiveCall
from webadmit_dash.webadmit.client import WebAdmitClient
from webadmit_dash.webadmit.errors import KeyRejected, RateLimited, UpstreamUnavailable, WebAdmitError

logger = logging.getLogger(__name__)


PER_PERSON_WINDOW = timedelta(minutes=1)
SHARE_WINDOW = timedelta(hours=1)  # WebAdMIT's own window


class Busy(UpstreamUnavailable):
    """No call was made: this process already has WEBADMIT_INTERACTIVE_CALLS calls waiting on WebAdMIT."""


class OverLimit(RateLimited):
    """No call was made: it would exceed one of our own limits on interactive calls. `title` and `http_status` are
    what a page or the API answers with; `retry_after` is when the oldest call counted leaves the window."""

    words: Words
    http_status: int

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after, status_code=None)
        self.title = self.words.title


class TooManyForOne(OverLimit):
    """This person made WEBADMIT_INTERACTIVE_PER_MINUTE interactive calls in the last minute."""

    words = TOO_MANY_FOR_ONE
    http_status = 429


class ShareSpent(OverLimit):
    """The key's interactive calls of the last hour reached WEBADMIT_INTERACTIVE_SHARE percent of its limit: the
    rest is the refreshes'. A 503, like WebAdMIT's own limit: waiting is all anyone can do."""

    words = SHARE_SPENT
    http_status = 503


@cache
def _slots(size: int) -> threading.BoundedSemaphore:
    # One per process (and per configured size, so that tests changing the setting get their own).
    return threading.BoundedSemaphore(size)


@contextmanager
def calling(credential: Credential, user: User | None) -> Iterator[WebAdmitClient]:
    """A client with the interactive timeouts for one call asked for by `user`, or a WebAdmitError at once when the
    call should not be made.

    The outcome of the calls made inside is recorded on the credential (its health and its circuit); an error
    raised here without a call (held back, no free slot, over a limit) records nothing, as nothing was learnt.
    """
    slots = _slots(settings.WEBADMIT_INTERACTIVE_CALLS)
    if not slots.acquire(blocking=False):
        logger.info("Credential %s: interactive call refused, every slot is waiting on WebAdMIT", credential.pk)
        raise Busy(BUSY.detail)
    try:
        refusal = held_back(credential, timezone.now())
        if refusal is not None:
            raise refusal
        count_call(credential, user, timezone.now())
        with credentials.client_for(credential, interactive=True) as client:
            try:
                yield client
            except WebAdmitError as error:
                credentials.record_health(credential, error, circuit=True)
                raise
        credentials.record_health(credential, None, circuit=True)
    finally:
        slots.release()


def held_back(credential: Credential, now: datetime) -> WebAdmitError | None:
    """Why a call with this credential should not be made now (as the error it would most likely end in), or
    None. When the circuit's pause is over, the caller that claims the trial gets None; the others wait."""
    words = {"credential": credential.name}
    if credential.health == Credential.Health.KEY_REJECTED:
        return KeyRejected(HELD_BACK[ErrorKind.KEY_REJECTED].format(**words))
    if credential.backoff_until is not None and credential.backoff_until > now:
        return RateLimited(
            HELD_BACK[ErrorKind.RATE_LIMITED].format(**words),
            retry_after=(credential.backoff_until - now).total_seconds(),
        )
    opened = credential.circuit_open_until
    if opened is None:
        return None
    if opened <= now:
        # Half-open: the trial may take as long as one call can.
        trial = timedelta(
            seconds=settings.WEBADMIT_INTERACTIVE_CONNECT_TIMEOUT + settings.WEBADMIT_INTERACTIVE_READ_TIMEOUT + 1
        )
        if credentials.claim_circuit_trial(credential, now, now + trial):
            logger.info("Credential %s: trying WebAdMIT again after the circuit's pause", credential.pk)
            return None
    return UpstreamUnavailable(HELD_BACK[ErrorKind.UNAVAILABLE].format(**words))


# --- Limits on what interactive calls spend ---------------------------------------------------------------------------


def count_call(credential: Credential, user: User | None, now: datetime) -> None:
    """Records the call about to be made, or raises OverLimit (recording nothing) when it would take one person
    past their calls a minute, or the key's interactive calls past their share of its hourly limit.

    The call is written first and then counted with the calls recorded before it (a lower id), so two web
    processes asking at once see each other and the later one is refused (only a call whose insert has not yet
    committed, a window of milliseconds, is missed: a limit exceeded by the few calls in flight, never a flood).
    """
    call = InteractiveCall.objects.create(user=user, credential=credential, made_at=now)
    refusal = _over_limit(call, credential, now)
    if refusal is not None:
        call.delete()
        logger.info("Credential %s: interactive call for user %s refused: %s", credential.pk, user, refusal.title)
        raise refusal


def _over_limit(call: InteractiveCall, credential: Credential, now: datetime) -> OverLimit | None:
    counted = InteractiveCall.objects.filter(pk__lte=call.pk)
    if call.user_id is not None:
        limit = settings.WEBADMIT_INTERACTIVE_PER_MINUTE
        mine = counted.filter(user_id=call.user_id, made_at__gt=now - PER_PERSON_WINDOW)
        if mine.count() > limit:
            wait = _wait(mine, PER_PERSON_WINDOW, now)
            return TooManyForOne(TOO_MANY_FOR_ONE.detail.format(limit=limit, seconds=math.ceil(wait)), retry_after=wait)
    share = interactive_share(credential)
    of_key = counted.filter(credential=credential, made_at__gt=now - SHARE_WINDOW)
    if of_key.count() > share:
        wait = _wait(of_key, SHARE_WINDOW, now)
        detail = SHARE_SPENT.detail.format(credential=credential.name, limit=share, minutes=math.ceil(wait / 60))
        return ShareSpent(detail, retry_after=wait)
    return None


def interactive_share(credential: Credential) -> int:
    """How many interactive calls the key may make in an hour: WEBADMIT_INTERACTIVE_SHARE percent of its limit."""
    try:
        hourly = schedule.hourly_limit(credential)
    except schedule.NonsenseBudget:
        hourly = settings.WEBADMIT_RATE_LIMIT_PER_HOUR  # the dispatcher logs the row's nonsense; a download need not
    return max(1, hourly * settings.WEBADMIT_INTERACTIVE_SHARE // 100)


def _wait(calls: QuerySet[InteractiveCall], window: timedelta, now: datetime) -> float:
    """Seconds until the oldest of these calls leaves the window, freeing a place."""
    oldest = calls.order_by("made_at").values_list("made_at", flat=True).first() or now
    return max((oldest + window - now).total_seconds(), 1.0)


def forget_old_calls(now: datetime) -> int:
    """Deletes the calls no limit counts any more (older than an hour); the hourly prune runs it."""
    deleted, _ = InteractiveCall.objects.filter(made_at__lt=now - SHARE_WINDOW).delete()
    return deleted
