"""Pauses that heal themselves: the check of a rejected key. A plain function; the Celery task only calls it.

When WebAdMIT rejects a key, every identity of it pauses (`refresh`), and nothing more is asked with that key
except this check: one cheap call (E1, the identities the key sees), first a minute after the rejection, then
after twice as long each time it is still rejected, up to 15 minutes (`schedule.pause_check_step`). The first
check WebAdMIT accepts resumes every identity the rejection paused. An identity paused on its own (WebAdMIT does
not know it) needs no code here: the dispatcher sends its refresh when its check is due (`schedule`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from webadmit_dash.core.models import Credential
from webadmit_dash.engine import credentials, schedule
from webadmit_dash.webadmit.errors import KeyRejected, RateLimited, WebAdmitError

logger = logging.getLogger(__name__)


def check_key(credential_id: int, *, now: datetime | None = None) -> bool | None:
    """Checks a rejected key with one call: True when WebAdMIT accepted it (its identities resume), False when
    not (the next check is scheduled), None when there was nothing to check (fixed meanwhile, or deleted)."""
    now = now or timezone.now()
    credential = Credential.objects.filter(pk=credential_id, health=Credential.Health.KEY_REJECTED).first()
    if credential is None:
        return None
    with credentials.client_for(credential) as client:
        try:
            client.list_user_identities()
        except WebAdmitError as error:
            _store_rate_sample(credential, client.rate_limit.remaining if client.rate_limit else None, now)
            _failed(credential, error, now)
            return False
        _store_rate_sample(credential, client.rate_limit.remaining if client.rate_limit else None, now)
    credentials.record_health(credential, None, now=now)  # resumes the identities the rejection paused
    logger.warning("Credential %s: WebAdMIT accepts its key again; its identities resume", credential.pk)
    return True


def _failed(credential: Credential, error: WebAdmitError, now: datetime) -> None:
    failed = credential.failed_checks + 1
    if isinstance(error, RateLimited):
        # The check itself spent the last of the budget: the whole credential waits, and the check with it.
        wait = schedule.rate_limited_wait_for_key(error.retry_after)
        credentials.note_rate_limited(
            credential, until=now + wait, factor=schedule.rate_limited_factor(credential), now=now
        )
        at = now + max(wait, schedule.pause_check_delay(failed))
    else:
        # Still rejected, or WebAdMIT did not answer (which says nothing about the key): ask again later.
        at = now + schedule.pause_check_delay(failed)
    credentials.schedule_key_check(credential, at=at, failed_checks=failed)
    still = "still rejected" if isinstance(error, KeyRejected) else f"not checked ({error.kind})"
    logger.warning("Credential %s: key %s; checked again at %s", credential.pk, still, at.isoformat(timespec="seconds"))


def _store_rate_sample(credential: Credential, remaining: int | None, now: datetime) -> None:
    # The check is counted against the budget like any other call.
    if remaining is not None and schedule.should_store_rate_sample(credential, remaining, now):
        credentials.store_rate_sample(credential, remaining, now)
