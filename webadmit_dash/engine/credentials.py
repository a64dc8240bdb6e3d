"""Everything the engine writes about a credential (one API key): a client for it, its health and the checks of
a rejected key, the circuit that spares interactive calls an unanswering WebAdMIT, its share of the rate budget,
and the identities it sees (Test connection, Import identities).

The one module that writes Credential's engine fields (health, last_error, key checks, circuit, rate samples,
backoff, cadence), so that what the admin and the pages show about a key has one source. When to write them is
decided elsewhere (`schedule`, `healing`, `interactive`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webadmit_dash.core.models import ChangeCounter, Credential, UserIdentity
from webadmit_dash.core.problems import ErrorKind
from webadmit_dash.engine import incoming
from webadmit_dash.webadmit.client import WebAdmitClient, make_session
from webadmit_dash.webadmit.errors import KeyRejected, UpstreamUnavailable, WebAdmitError
from webadmit_dash.webadmit.types import UserIdentity as UpstreamIdentity

logger = logging.getLogger(__name__)


@cache
def shared_session() -> requests.Session:
    # One pool per process: a worker refreshing hundreds of identities reuses its TLS connections to WebAdMIT
    # instead of opening one per refresh. The key travels per request, never on the shared session.
    return make_session(pool_maxsize=32)


def client_for(credential: Credential, *, interactive: bool = False) -> WebAdmitClient:
    """A client for the credential's key. `interactive` (a person is waiting, holding a web server thread) gives
    the short timeouts of WEBADMIT_INTERACTIVE_*; the engine's own calls may wait longer."""
    if interactive:
        timeout = (settings.WEBADMIT_INTERACTIVE_CONNECT_TIMEOUT, settings.WEBADMIT_INTERACTIVE_READ_TIMEOUT)
    else:
        timeout = (settings.WEBADMIT_CONNECT_TIMEOUT, settings.WEBADMIT_READ_TIMEOUT)
    return WebAdmitClient(
        credential.base_url,
        credential.get_api_key(),
        credential_name=credential.name,
        timeout=(float(timeout[0]), float(timeout[1])),
        session=shared_session(),
    )


# --- Health ------------------------------------------------------------------------------------------------------


def record_health(
    credential: Credential, error: WebAdmitError | None, *, circuit: bool = False, now: datetime | None = None
) -> int:
    """Stores the outcome of a call made with this credential, as the admin and the dashboard show it.

    A key newly rejected starts being checked by itself (`schedule.claim_due_key_checks` counts the first wait from
    last_checked_at); a key accepted again resumes the identities its rejection paused (returns how many). With
    `circuit` (an interactive call) the outcome also opens or closes the credential's circuit.
    """
    if error is None:
        health, message = Credential.Health.OK, ""
    elif isinstance(error, KeyRejected):
        health, message = Credential.Health.KEY_REJECTED, error.message
    elif isinstance(error, UpstreamUnavailable):
        health, message = Credential.Health.UNREACHABLE, error.message
    else:
        # Other errors (a 404 for one identity, a rate limit) say nothing about the key itself.
        health, message = Credential.Health.OK, error.message
    now = now or timezone.now()
    was_rejected = credential.health == Credential.Health.KEY_REJECTED
    credential.health, credential.last_error, credential.last_checked_at = health, message, now
    fields = ["health", "last_error", "last_checked_at", "updated_at"]
    if was_rejected != (health == Credential.Health.KEY_REJECTED):
        # Rejected just now, or accepted again: either way the checks start (or end) from scratch.
        credential.next_check_at, credential.failed_checks = None, 0
        fields += ["next_check_at", "failed_checks"]
    if circuit:
        opened = (
            now + timedelta(seconds=settings.WEBADMIT_CIRCUIT_PAUSE)
            if health == Credential.Health.UNREACHABLE
            else None
        )
        if opened != credential.circuit_open_until:
            credential.circuit_open_until = opened
            fields.append("circuit_open_until")
            if opened:
                logger.warning(
                    "Credential %s: WebAdMIT did not answer; Download and Run again are answered at once until %s",
                    credential.pk,
                    opened.isoformat(timespec="seconds"),
                )
    credential.save(update_fields=fields)
    if was_rejected and health == Credential.Health.OK:
        return resume_identities(credential)
    return 0


# --- A rejected key's checks ---------------------------------------------------------------------------------------


def claim_key_check(credential: Credential, until: datetime) -> bool:
    """Claims the due check of a rejected key for one dispatcher, by moving its time to `until` (a lease: if the
    check is lost, it falls due again then). False when another dispatcher claimed it first."""
    claimed = Credential.objects.filter(
        pk=credential.pk, health=Credential.Health.KEY_REJECTED, next_check_at=credential.next_check_at
    ).update(next_check_at=until)
    if claimed:
        credential.next_check_at = until
    return bool(claimed)


def schedule_key_check(credential: Credential, *, at: datetime, failed_checks: int) -> None:
    """After a check that did not find the key accepted: when to ask again, and how many checks have failed."""
    Credential.objects.filter(pk=credential.pk, health=Credential.Health.KEY_REJECTED).update(
        next_check_at=at, failed_checks=failed_checks
    )
    credential.next_check_at, credential.failed_checks = at, failed_checks
    # Open pages show when the next check is: a new change sequence on the paused identities re-renders banners.
    with transaction.atomic():
        UserIdentity.objects.filter(credential=credential, paused=True, error_kind=ErrorKind.KEY_REJECTED).update(
            change_seq=ChangeCounter.next_value()
        )


def force_key_check(credential: Credential) -> None:
    """An administrator asked: check a rejected key at the dispatcher's next run rather than at its scheduled time."""
    Credential.objects.filter(pk=credential.pk, health=Credential.Health.KEY_REJECTED).update(
        next_check_at=timezone.now()
    )


# --- The circuit of interactive calls ------------------------------------------------------------------------------


def claim_circuit_trial(credential: Credential, now: datetime, until: datetime) -> bool:
    """The circuit is half-open (its pause is over): the first caller, in whichever web process, moves the pause
    to `until` and makes the one trial call; the others keep being answered at once meanwhile."""
    opened = credential.circuit_open_until
    if opened is None or opened > now:
        return False
    claimed = Credential.objects.filter(pk=credential.pk, circuit_open_until=opened).update(circuit_open_until=until)
    if claimed:
        credential.circuit_open_until = until
    return bool(claimed)


def note_new_key(credential: Credential) -> None:
    """An administrator entered a new key: nothing is known about it yet (no error, no checks, no circuit). A
    rejected key's identities stay paused, and the credential stays rejected, until a check finds the new key
    accepted (`engine.new_key`): the dispatcher must not send refreshes with a key nobody has checked."""
    if credential.health != Credential.Health.KEY_REJECTED:
        credential.health = Credential.Health.UNCHECKED
    credential.last_error = ""
    credential.next_check_at, credential.failed_checks, credential.circuit_open_until = None, 0, None
    credential.save(
        update_fields=["health", "last_error", "next_check_at", "failed_checks", "circuit_open_until", "updated_at"]
    )


def paused_by_rejection(credential: Credential) -> int:
    """How many of the credential's identities are paused because its key was rejected."""
    return UserIdentity.objects.filter(credential=credential, paused=True, error_kind=ErrorKind.KEY_REJECTED).count()


def pause_for_rejected_key(credential: Credential, message: str) -> int:
    """A new key was rejected when it was saved: its enabled identities pause as a refresh would pause them, with
    the message that says what to do, so that pages show why nothing is refreshed. Returns how many paused."""
    with transaction.atomic():
        return UserIdentity.objects.filter(credential=credential, enabled=True, paused=False).update(
            paused=True,
            error_kind=ErrorKind.KEY_REJECTED,
            error_message=message,
            change_seq=ChangeCounter.next_value(),
        )


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


def save_cadence(credential: Credential, *, factor: float, settled_interval: float) -> None:
    """The dispatcher's cadence for the key: the stretch of every cadence, and the settled identities' interval."""
    Credential.objects.filter(pk=credential.pk).update(cadence_factor=factor, settled_interval=settled_interval)
    if factor != credential.cadence_factor:
        logger.info("Credential %s: cadences stretched x%.2f to stay within budget", credential.pk, factor)
    credential.cadence_factor, credential.settled_interval = factor, settled_interval


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
            fields: dict[str, object] = {**incoming.identity_fields(item), "missing_upstream_since": None}
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
