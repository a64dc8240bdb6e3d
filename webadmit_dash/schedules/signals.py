"""What the schedules app tells the layers above it (operations' metrics), without importing them.

`scheduled_run_recorded` is sent once per slot dealt with, by the dispatcher that claimed it (a slot is claimed by
one dispatcher only, so a receiver that counts never counts a slot twice): `outcome` is one of RUN_OUTCOMES.
`callback_answered` is sent once per call to the callback endpoint that reached it as a POST, with `outcome` one of
CALLBACK_OUTCOMES.
"""

from __future__ import annotations

from django.dispatch import Signal

from webadmit_dash.schedules.models import ScheduledRun

RUN_OUTCOMES = tuple(ScheduledRun.Outcome.values)

ACCEPTED = "accepted"  # a known token: 204 (a refresh asked for at its first call)
UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 - an outcome, not a secret: 404
RATE_LIMITED = "rate_limited"  # 429: too many calls from one address this minute
BAD_REQUEST = "bad_request"  # 400: a known token with fields missing, malformed or naming another run
CALLBACK_OUTCOMES = (ACCEPTED, UNKNOWN_TOKEN, RATE_LIMITED, BAD_REQUEST)

scheduled_run_recorded = Signal()
callback_answered = Signal()
