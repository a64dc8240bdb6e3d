"""Everything the engine writes about a credential (one API key): a client for it, its health, its share of the
rate budget, and the identities it sees (Test connection, Import identities).

The one module that writes Credential's engine fields (health, last_error, rate samples, backoff, cadence factor),
so that what the admin and the pages show about a key has one source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webadmit_dash.core.models import ChangeCounter, Credential, UserIdentity
from webadmit_dash.core.problems import ErrorKind
from webadmit_dash.webadmit.client import WebAdmitClient, make_session
from webadmit_dash.webadmit.errors import KeyRejected, UpstreamUnavailable, WebAdmitError
from webadmit_dash.webadmit.types import UserIdentity as UpstreamIdentity

logger = logging.getLogger(__name__)


@cache
def _shared_session() -> requests.Session:
    # One pool per process: a worker refreshing hundreds of identities reuses its TLS connections to WebAdMIT
    # instead of opening one per refresh. The key travels per request, never on the shared session.
    return make_session(pool_maxsize=32)


def client_for(credential: Credential) -> WebAdmitClient:
    return WebAdmitClient(
        credential.base_url,
        credential.get_api_key(),
        credential_name=credential.name,
        timeout=(float(settings.WEBADMIT_CONNECT_TIMEOUT), float(settings.WEBADMIT_READ_TIMEOUT)),
        session=_shared_session(),
    )


# --- Health ------------------------------------------------------------------------------------------------------


def record_health(credential: Credential, error: WebAdmitError | None) -> None:
    """Stores the outcome of a call made with this credential, as the admin and the dashboard show it."""
    if error is None:
        health, message = Credential.Health.OK, ""
    elif isinstance(error, KeyRejected):
        health, message = Credential.Health.KEY_REJECTED, error.message
    elif isinstance(error, UpstreamUnavailable):
        health, message = Credential.Health.UNREACHABLE, error.message
    else:
        # Other errors (a 404 for one identity, a rate limit) say nothing about the key itself.
        health, message = Credential.Health.OK, error.message
    was_rejected = credential.health == Credential.Health.KEY_REJECTED
    credential.health, credential.last_error, credential.last_checked_at = health, message, timezone.now()
    credential.save(update_fields=["health", "last_error", "last_checked_at", "updated_at"])
    if was_rejected and health == Credential.Health.OK:
        resume_identities(credential)


def resume_identities(credential: Credential) -> int:
    """Un-pauses identities that were paused only because this credential's key was rejected."""
    with transaction.atomic():
        paused = UserIdentity.objects.filter(credential=credential, paused=True, error_kind=ErrorKind.KEY_REJECTED)
        if not paused.exists():
            return 0
        # A new change sequence lets open pages notice that the "key rejected" banner should go.
        return paused.update(
            paused=False,
            error_kind=ErrorKind.NONE,
            error_message="",
            consecutive_failures=0,
            next_refresh_at=timezone.now(),
            change_seq=ChangeCounter.next_value(),
        )


# --- The rate budget ---------------------------------------------------------------------------------------------


def store_rate_sample(credential: Credential, remaining: int, now: datetime) -> None:
    """Keeps WebAdMIT's latest X-RateLimit-Remaining, which the dispatcher stretches cadences by."""
    Credential.objects.filter(pk=credential.pk).update(rate_limit_remaining=remaining, rate_limit_seen_at=now)
    credential.rate_limit_remaining, credential.rate_limit_seen_at = remaining, now


def note_rate_limited(credential: Credential, *, until: datetime, factor: float, now: datetime) -> None:
    """After a 429: the whole credential waits until `until`, its budget is recorded as spent, and its cadences
    stretch by `factor` until WebAdMIT reports a healthy X-RateLimit-Remaining again."""
    Credential.objects.filter(pk=credential.pk).update(
        backoff_until=until, rate_limit_remaining=0, rate_limit_seen_at=now, cadence_factor=factor
    )
    credential.backoff_until, credential.rate_limit_remaining, credential.rate_limit_seen_at = until, 0, now
    credential.cadence_factor = factor


def save_cadence_factor(credential: Credential, factor: float) -> None:
    Credential.objects.filter(pk=credential.pk).update(cadence_factor=factor)
    credential.cadence_factor = factor
    logger.info("Credential %s: cadences stretched x%.2f to stay within budget", credential.pk, factor)


# --- Test connection and Import identities -----------------------------------------------------------------------


def test_connection(credential: Credential) -> list[UpstreamIdentity]:
    """Calls E1 with the credential's key, records its health, and returns the identities it sees.

    Raises the client's WebAdmitError (after recording it) so callers can show its message.
    """
    try:
        identities = client_for(credential).list_user_identities()
    except WebAdmitError as error:
        record_health(credential, error)
        raise
    record_health(credential, None)
    return identities


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    missing: int

    def __str__(self) -> str:
        return f"{self.created} new, {self.updated} updated, {self.missing} no longer listed by WebAdMIT"


def import_identities(credential: Credential) -> ImportResult:
    """Creates or updates identities from E1; identities WebAdMIT no longer lists are flagged, never deleted."""
    upstream = test_connection(credential)
    now = timezone.now()
    created = updated = 0
    with transaction.atomic():
        for item in upstream:
            fields = {
                "type": item.type or "",
                "association": item.association or "",
                "institution": item.institution or "",
                "organization": item.organization or "",
                "cycle": item.cycle or "",
                "missing_upstream_since": None,
            }
            _, was_created = UserIdentity.objects.update_or_create(
                credential=credential, webadmit_id=item.id, defaults=fields
            )
            created += was_created
            updated += not was_created
        missing = (
            UserIdentity.objects.filter(credential=credential, missing_upstream_since__isnull=True)
            .exclude(webadmit_id__in=[item.id for item in upstream])
            .update(missing_upstream_since=now)
        )
    result = ImportResult(created, updated, missing)
    logger.info("Imported identities for credential %s: %s", credential.pk, result)
    return result
