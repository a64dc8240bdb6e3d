"""What the schedules app tells the layers above it (operations' metrics), without importing them.

`callback_answered` is sent once per call to the callback endpoint that reached it as a POST, with `outcome` one of
OUTCOMES.
"""

from __future__ import annotations

from django.dispatch import Signal

ACCEPTED = "accepted"  # a known token: 204 (a refresh asked for at its first call)
UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 - an outcome, not a secret: 404
RATE_LIMITED = "rate_limited"  # 429: too many calls from one address this minute
BAD_REQUEST = "bad_request"  # 400: a known token with fields missing, malformed or naming another run
OUTCOMES = (ACCEPTED, UNKNOWN_TOKEN, RATE_LIMITED, BAD_REQUEST)

callback_answered = Signal()
