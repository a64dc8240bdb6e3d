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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.utils import timezone

from webadmit_dash.core.models import Credential
from webadmit_dash.core.problems import BUSY, HELD_BACK, ErrorKind
from webadmit_dash.engine import credentials
from webadmit_dash.webadmit.client import WebAdmitClient
from webadmit_dash.webadmit.errors import KeyRejected, RateLimited, UpstreamUnavailable, WebAdmitError

logger = logging.getLogger(__name__)


class Busy(UpstreamUnavailable):
    """No call was made: this process already has WEBADMIT_INTERACTIVE_CALLS calls waiting on WebAdMIT."""


@cache
def _slots(size: int) -> threading.BoundedSemaphore:
    # One per process (and per configured size, so that tests changing the setting get their own).
    return threading.BoundedSemaphore(size)


@contextmanager
def calling(credential: Credential) -> Iterator[WebAdmitClient]:
    """A client with the interactive timeouts, or a WebAdmitError at once when the call should not be made.

    The outcome of the calls made inside is recorded on the credential (its health and its circuit); an error
    raised here without a call (held back, or no free slot) records nothing, as nothing was learnt.
    """
    slots = _slots(settings.WEBADMIT_INTERACTIVE_CALLS)
    if not slots.acquire(blocking=False):
        logger.info("Credential %s: interactive call refused, every slot is waiting on WebAdMIT", credential.pk)
        raise Busy(BUSY.detail)
    try:
        refusal = held_back(credential, timezone.now())
        if refusal is not None:
            raise refusal
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
