"""The check of a key an administrator has just saved: one call (E1, the identities the key sees), so the admin can
say at once whether WebAdMIT accepts it, instead of "changed successfully" for a key that will be refused.

The identities a rejected key paused stay paused until a check passes: this one, or, when WebAdMIT could not
answer it, the rejected key's own checks (`healing`), which carry on with the new key. The call has the short
timeouts of a call a person waits for, and is counted in the key's budget like the engine's own: its
X-RateLimit-Remaining is stored, a 429 makes the whole credential wait, and a credential already waiting out
WebAdMIT's limit is not called at all. Nothing here says or logs the key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from django.db.models import Min
from django.utils import timezone

from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.engine import credentials, schedule
from webadmit_dash.webadmit.client import WebAdmitClient
from webadmit_dash.webadmit.errors import BadResponse, KeyRejected, RateLimited, UpstreamUnavailable, WebAdmitError

logger = logging.getLogger(__name__)


class Outcome(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOT_CHECKED = "not_checked"  # WebAdMIT did not answer in a way that says anything about the key


@dataclass(frozen=True)
class KeyCheck:
    """What the check found, for the admin to say in words."""

    outcome: Outcome
    # ACCEPTED: the identities that resumed; REJECTED: those that stay (or now are) paused.
    identities: int = 0
    status_code: int | None = None
    # NOT_CHECKED: why ("unreachable", "rate_limited", "unreadable", "refused"), and when the key is tried next
    # (None: no identity will try it by itself; Test connection will).
    reason: str = ""
    next_try_at: datetime | None = None


def check_new_key(credential: Credential, *, now: datetime | None = None) -> KeyCheck:
    """Forgets what was known of the old key, then checks the new one with one call (unless the credential is
    waiting out WebAdMIT's rate limit, which no call may break)."""
    now = now or timezone.now()
    credentials.note_new_key(credential)
    if credential.backoff_until is not None and credential.backoff_until > now:
        return _not_checked(credential, "rate_limited", now, at=credential.backoff_until)
    with credentials.client_for(credential, interactive=True) as client:
        try:
            client.list_user_identities()
        except WebAdmitError as error:
            _store_rate_sample(credential, client, now)
            return _failed(credential, error, now)
        _store_rate_sample(credential, client, now)
    resumed = credentials.record_health(credential, None, now=now)
    # Also those paused by a rejection the credential no longer shows (an earlier key, a health edited by hand).
    resumed += credentials.resume_identities(credential)
    logger.info("Credential %s: WebAdMIT accepted its new key; %s identities resume", credential.pk, resumed)
    return KeyCheck(Outcome.ACCEPTED, identities=resumed)


def _failed(credential: Credential, error: WebAdmitError, now: datetime) -> KeyCheck:
    if isinstance(error, KeyRejected):
        credentials.record_health(credential, error, now=now)
        # A rejected key's checks start from scratch with this key, a first wait after now.
        credentials.schedule_key_check(credential, at=now + schedule.pause_check_delay(0), failed_checks=0)
        credentials.pause_for_rejected_key(credential, error.message)
        logger.warning("Credential %s: WebAdMIT rejected its new key (%s)", credential.pk, error.status_code)
        return KeyCheck(
            Outcome.REJECTED, identities=credentials.paused_by_rejection(credential), status_code=error.status_code
        )
    if isinstance(error, RateLimited):
        wait = schedule.rate_limited_wait_for_key(error.retry_after)
        credentials.note_rate_limited(
            credential, until=now + wait, factor=schedule.rate_limited_factor(credential), now=now
        )
        return _not_checked(credential, "rate_limited", now, at=now + wait, status_code=error.status_code)
    if isinstance(error, UpstreamUnavailable):
        reason = "unreachable"
    elif isinstance(error, BadResponse):
        reason = "unreadable"
    else:
        reason = "refused"  # a 404 or 422 to E1 says nothing about the key either
    return _not_checked(credential, reason, now, status_code=error.status_code)


def _not_checked(
    credential: Credential, reason: str, now: datetime, *, at: datetime | None = None, status_code: int | None = None
) -> KeyCheck:
    """The key is saved but unchecked. A rejected credential stays rejected (its identities paused) and its own
    check tries the new key; any other credential's identities try it at their next refresh."""
    if credential.health == Credential.Health.KEY_REJECTED:
        at = max(at or now, now + schedule.pause_check_delay(0))
        credentials.schedule_key_check(credential, at=at, failed_checks=0)
    else:
        refreshing = UserIdentity.objects.filter(credential=credential, enabled=True, paused=False)
        if refreshing.exists():
            upcoming = refreshing.aggregate(first=Min("next_refresh_at"))["first"]
            at = max(at or now, upcoming or now)
        else:
            at = None  # no identity refreshes with it yet: nothing tries the key before someone does
    logger.warning("Credential %s: its new key could not be checked (%s)", credential.pk, reason)
    return KeyCheck(Outcome.NOT_CHECKED, status_code=status_code, reason=reason, next_try_at=at)


def _store_rate_sample(credential: Credential, client: WebAdmitClient, now: datetime) -> None:
    # The check is counted against the budget like any other call (as `healing` counts a rejected key's checks).
    remaining = client.rate_limit.remaining if client.rate_limit else None
    if remaining is not None and schedule.should_store_rate_sample(credential, remaining, now):
        credentials.store_rate_sample(credential, remaining, now)
