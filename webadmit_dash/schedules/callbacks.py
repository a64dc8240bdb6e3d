"""WebAdMIT's callback: `POST /webadmit/callback/<token>/`, sent when a run started here is ready: an export's run
(E4's `callback`) with form fields, a PDF Manager batch (P3's) with the batch as JSON. One address for both: the
token names the run, and the run's kind says which body to expect (callback_bodies.py).

Nothing signs the call and anyone can reach the address, so it is only a hint to look again: a known token asks
the engine for an immediate refresh of the run's identity (`on_demand.refresh_for_callback`), and the status is read
from WebAdMIT by that refresh, never taken from the call. What a forger can do is therefore bounded twice over:
a token causes one refresh, at its first call (the token is unguessable and one per run), and every address is
held to WEBADMIT_CALLBACKS_PER_MINUTE calls, known tokens or not, past which it is answered 429 with Retry-After.

Answers carry no body and no hint: 204 accepted, 404 an unknown token, 400 a known token whose body is missing,
malformed, too large or names another run, 405 anything but POST. No sign-in and no CSRF token: WebAdMIT has neither.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webadmit_dash.accounts.peers import client_address
from webadmit_dash.core.models import ChangeCounter, ExportFile, RunRequest, UserIdentity
from webadmit_dash.engine import on_demand
from webadmit_dash.schedules import callback_bodies, signals
from webadmit_dash.schedules.models import CallbackWindow

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)
# Windows of addresses not heard from for this long are deleted (when a new address starts one), so a storm from
# many addresses leaves no lasting rows.
FORGET_AFTER = timedelta(hours=1)
# The engine's tokens are 43 characters (secrets.token_urlsafe(32)); the column holds 64. Longer is never known.
TOKEN_MAX = 64


@csrf_exempt
@require_POST
def webadmit_callback(request: HttpRequest, token: str) -> HttpResponse:
    now = timezone.now()
    address = client_address(request) or ""
    wait = spend_call(address, now)
    if wait is not None:
        limit = settings.WEBADMIT_CALLBACKS_PER_MINUTE
        logger.warning("Callback calls from %s over %s a minute: refused", address, limit)
        response = _answer(signals.RATE_LIMITED, 429)
        response["Retry-After"] = str(max(1, math.ceil(wait.total_seconds())))
        return response
    run_request = None
    if len(token) <= TOKEN_MAX:
        # Its rows say which kind of run it is, hence which body to expect.
        known = RunRequest.objects.filter(callback_token=token).select_related("run", "requested_from")
        run_request = known.first()
    if run_request is None:
        logger.info("Callback from %s with an unknown token", address)
        return _answer(signals.UNKNOWN_TOKEN, 404)
    said = callback_bodies.read(request, run_request)
    if said.problem:
        logger.warning("Callback for run request %s refused: %s", run_request.pk, said.problem)
        return _answer(signals.BAD_REQUEST, 400)
    if _first_call(run_request, now):
        identity = UserIdentity.objects.get(pk=run_request.identity_id)
        refresh = on_demand.refresh_for_callback(identity, now=now)
        logger.info("WebAdMIT called back for %s (it says %r); refresh: %s", said.about, said.state, refresh)
    else:
        # WebAdMIT calling twice, or someone replaying the call: the first call's refresh has read WebAdMIT already.
        logger.info("Callback for %s repeated: no further refresh", said.about)
    return _answer(signals.ACCEPTED, 204)


def spend_call(address: str, now: datetime) -> timedelta | None:
    """Counts one call from `address` in its current minute; returns None when it may go on, or how long until
    its minute ends when it has made WEBADMIT_CALLBACKS_PER_MINUTE calls already (a refused call is not counted)."""
    limit = settings.WEBADMIT_CALLBACKS_PER_MINUTE
    with transaction.atomic():
        window, created = CallbackWindow.objects.select_for_update().get_or_create(
            address=address, defaults={"started_at": now, "calls": 1}
        )
        if created:
            CallbackWindow.objects.filter(started_at__lt=now - FORGET_AFTER).delete()
            return None
        if now - window.started_at >= WINDOW:
            window.started_at, window.calls = now, 1
        elif window.calls >= limit:
            return window.started_at + WINDOW - now
        else:
            window.calls += 1
        window.save(update_fields=["started_at", "calls"])
    return None


def _first_call(run_request: RunRequest, now: datetime) -> bool:
    """Stamps the run's first callback (False when it was called back before). Open pages show it: the run's row
    gets a new sequence number, as any change of what it shows does."""
    with transaction.atomic():
        first = RunRequest.objects.filter(pk=run_request.pk, callback_received_at__isnull=True).update(
            callback_received_at=now
        )
        if first and run_request.run_id is not None:
            seq = ChangeCounter.next_value()
            ExportFile.objects.filter(pk=run_request.run_id).update(change_seq=seq)
            UserIdentity.objects.filter(pk=run_request.identity_id).update(change_seq=seq)
    return bool(first)


def _answer(outcome: str, status: int) -> HttpResponse:
    signals.callback_answered.send(sender=RunRequest, outcome=outcome)
    return HttpResponse(status=status)
