"""One refresh of one identity: take its lock, call WebAdMIT (E6, and E3 when names are missing; P4 too, with P1
and P5 when needed, for an identity that watches PDF Manager batches: pdf_batches), apply the result, and record
what happened where pages can show it. A plain function; the Celery task only calls it.

Every call is made before anything is written, and whatever fails, nothing already known is deleted or
overwritten: a failure only writes the identity's error state and schedule (and, for a rejected key or a rate
limit, the credential's). A failed P4 fails the refresh as a failed E6 does. A failed E3 (or P1) alone does not
fail the refresh: the statuses E6 gave are stored, and files whose export has no name yet show its id until E3
answers. A failed P5 does not either, but the identity says so and tries again after the usual backoff. A failure
that retrying soon cannot help (an identity WebAdMIT does not know) pauses the identity; its refreshes then become
checks, less and less often, and the first that succeeds resumes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Case, F, Field, Q, Value, When
from django.utils import timezone

from webadmit_dash.core import text
from webadmit_dash.core.models import ChangeCounter, Credential, UserIdentity
from webadmit_dash.core.problems import MEANINGS, ErrorKind, kind_of
from webadmit_dash.engine import apply, credentials, pdf_batches, schedule
from webadmit_dash.engine.terms import Outcome
from webadmit_dash.webadmit.client import WebAdmitClient
from webadmit_dash.webadmit.errors import KeyRejected, RateLimited, WebAdmitError
from webadmit_dash.webadmit.types import Export

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshOutcome:
    identity_id: int
    outcome: Outcome
    applied: apply.ApplyResult | None = None
    error: WebAdmitError | None = None
    calls: int = 0
    # E3's failure in a refresh that stored E6's statuses anyway.
    exports_error: WebAdmitError | None = None
    # What P4's batches changed, for an identity that watches them.
    batches: apply.ApplyResult | None = None


@dataclass(frozen=True)
class _Fetched:
    """What a refresh got from WebAdMIT before writing anything."""

    plan: apply.ListingPlan
    exports: list[Export] | None = None  # E3's answer; None when not asked or when it failed
    exports_error: WebAdmitError | None = None
    batches: pdf_batches.Fetched | None = None  # None when the identity does not watch PDF Manager batches

    @property
    def running(self) -> bool:
        """The fast cadence's switch: a file or a batch still runs (or a batch's zips wait)."""
        return self.plan.running or (self.batches is not None and self.batches.running)

    @property
    def changes_anything(self) -> bool:
        return (
            self.plan.changes_anything
            or self.exports is not None
            or (self.batches is not None and self.batches.changes_anything)
        )

    @property
    def rate_limited(self) -> RateLimited | None:
        """A rate limit met by a call that did not fail the refresh (E3 or P1): the key backs off all the same."""
        soft = [self.exports_error, self.batches.templates_error if self.batches else None]
        return next((error for error in soft if isinstance(error, RateLimited)), None)


# The most calls one refresh makes: E6 and P4, E3 and P1 when names are missing, and P5 for the zips of
# pdf_batches.ZIP_READS_PER_REFRESH batches.
MOST_CALLS = 4 + pdf_batches.ZIP_READS_PER_REFRESH


def refresh_time_limit() -> int:
    """Seconds a refresh can take at most: its calls (MOST_CALLS), each bounded by the client's connect and read
    timeouts, plus a little for the database. The task's time limits and the lock's lifetime derive from it."""
    return MOST_CALLS * (settings.WEBADMIT_CONNECT_TIMEOUT + settings.WEBADMIT_READ_TIMEOUT) + 5


def lock_ttl() -> timedelta:
    # Outlives the task's hard time limit, so a lock is never taken over from a refresh that is still running;
    # short enough that the lock of a worker killed mid-refresh frees itself soon.
    return timedelta(seconds=refresh_time_limit() + 10)


def refresh_identity(identity_id: int, *, now: datetime | None = None) -> RefreshOutcome:
    """Refreshes one identity's export files, unless another refresh of it is running (then it does nothing)."""
    now = now or timezone.now()
    token = _acquire_lock(identity_id, now)
    if token is None:
        # Frees this delivery's dedup mark, so the dispatcher or "Refresh now" can queue the identity again.
        UserIdentity.objects.filter(pk=identity_id).update(refresh_queued_at=None)
        return RefreshOutcome(identity_id, Outcome.SKIPPED)
    try:
        identity = UserIdentity.objects.select_related("credential").get(pk=identity_id)
        return _refresh_locked(identity, token, now)
    except BaseException:
        # A bug, a lost database or the task's soft time limit: retry later rather than on the next dispatch,
        # so a refresh that always crashes cannot loop.
        _record_crash(identity_id, token, now)
        raise


def is_locked(identity_id: int, now: datetime | None = None) -> bool:
    """Whether a refresh of the identity holds its lock now."""
    now = now or timezone.now()
    return UserIdentity.objects.filter(pk=identity_id, refreshing_until__gt=now).exists()


def _acquire_lock(identity_id: int, now: datetime) -> datetime | None:
    """Takes the identity's refresh lock with one conditional UPDATE (atomic on SQLite and PostgreSQL alike);
    returns the lock's expiry, which doubles as the token that proves ownership later."""
    until = now + lock_ttl()
    taken = (
        UserIdentity.objects.filter(schedule.REFRESHABLE, pk=identity_id, enabled=True)
        .filter(Q(refreshing_until__isnull=True) | Q(refreshing_until__lte=now))
        .update(refreshing_until=until, refresh_queued_at=None)
    )
    return until if taken else None


def _refresh_locked(identity: UserIdentity, token: datetime, now: datetime) -> RefreshOutcome:
    credential = identity.credential
    if identity.paused and credential.health == Credential.Health.KEY_REJECTED:
        # Paused with its key (a task queued before the rejection): only the key's check asks WebAdMIT now.
        _release_with(identity.pk, token, {"refreshing_until": None})
        return RefreshOutcome(identity.pk, Outcome.SKIPPED)
    with credentials.client_for(credential) as client:
        try:
            fetched = _fetch(client, identity, now)
        except WebAdmitError as error:
            _store_rate_sample(credential, client, now)
            _record_failure(identity, error, token, now)
            logger.info("Refresh of identity %s failed: %s", identity.pk, error.kind)
            return RefreshOutcome(identity.pk, Outcome.FAILED, error=error, calls=client.calls_made)
        _store_rate_sample(credential, client, now)
        if (rate_limited := fetched.rate_limited) is not None:
            # E6 was answered but WebAdMIT wants the key to slow down: the whole credential backs off as after
            # any 429, and this identity's statuses are stored all the same.
            wait = schedule.rate_limited_wait(identity, rate_limited.retry_after, failures=1)
            _note_rate_limited(credential, until=now + wait, now=now)
        try:
            result, batches = _record_success(identity, fetched, token, now)
        except DatabaseError as error:
            _record_not_stored(identity, error, token, now)
            return RefreshOutcome(identity.pk, Outcome.FAILED, calls=client.calls_made)
        return RefreshOutcome(
            identity.pk,
            Outcome.REFRESHED,
            applied=result,
            calls=client.calls_made,
            exports_error=fetched.exports_error,
            batches=batches,
        )


def _fetch(client: WebAdmitClient, identity: UserIdentity, now: datetime) -> _Fetched:
    """E6, planned against what is stored, and P4 likewise for an identity that watches PDF Manager batches (with P1
    and P5 when needed: pdf_batches); then E3 when the plan meets exports nothing names (or hourly). Every call comes
    before anything is written. A failed E6 or P4 fails the refresh; a failed E3 only leaves names missing for now,
    because fresh statuses matter more than names (E3 is asked again a minute later)."""
    plan = apply.plan_listing(identity, client.list_export_files(identity.webadmit_id))
    batches = pdf_batches.fetch(client, identity, now) if identity.watch_pdf_batches else None
    if batches is not None and batches.templates_error is not None:
        logger.warning("Template names of identity %s could not be read: %s", identity.pk, batches.templates_error)
    if not schedule.exports_due(identity, plan.unknown_export_ids, now):
        return _Fetched(plan, batches=batches)
    try:
        exports = client.list_exports(identity.webadmit_id)
    except WebAdmitError as error:
        logger.warning("Export names for identity %s could not be read; storing its statuses: %s", identity.pk, error)
        return _Fetched(plan, exports_error=error, batches=batches)
    return _Fetched(plan, exports, batches=batches)


def _store_rate_sample(credential: Credential, client: WebAdmitClient, now: datetime) -> None:
    remaining = client.rate_limit.remaining if client.rate_limit else None
    if remaining is not None and schedule.should_store_rate_sample(credential, remaining, now):
        credentials.store_rate_sample(credential, remaining, now)


def _note_rate_limited(credential: Credential, *, until: datetime, now: datetime) -> None:
    credentials.note_rate_limited(credential, until=until, factor=schedule.rate_limited_factor(credential), now=now)


def _was_visibly_unwell(identity: UserIdentity) -> bool:
    """Whether a page shows this identity as failing, stale or never refreshed: a success must then tell it."""
    return bool(
        identity.error_kind
        or identity.consecutive_failures
        or identity.last_success_at is None
        or identity.last_success_at != identity.last_attempt_at
    )


def _record_success(
    identity: UserIdentity, fetched: _Fetched, token: datetime, now: datetime
) -> tuple[apply.ApplyResult, apply.ApplyResult | None]:
    """Stores what the refresh read; returns what the files' listing changed, and the batches' (None when not read)."""
    plan, exports, batches = fetched.plan, fetched.exports, fetched.batches
    fields: dict[str, object] = {
        "refreshing_until": None,
        "last_attempt_at": now,
        "last_success_at": now,
        "next_refresh_at": schedule.next_refresh_at(identity, running=fetched.running, now=now),
    }
    if fetched.exports_error is not None:
        # A failed E3 counts as asked, so it is not asked again within the minute (an answered one is stored by
        # apply_exports, which stamps the same field).
        fields["exports_checked_at"] = now
    if batches is not None and batches.templates_error is not None:
        fields["templates_checked_at"] = now  # likewise a failed P1 (apply_templates stamps an answered one)
    if identity.paused:
        # This refresh was the check of a paused identity, and WebAdMIT answered: it resumes.
        fields.update(paused=False, error_kind=ErrorKind.NONE, error_message="", consecutive_failures=0)
        logger.info("Identity %s resumed: WebAdMIT answered its check", identity.pk)
    elif identity.error_kind or identity.error_message or identity.consecutive_failures:
        # Only an error there is to clear: read after our lock was taken, a clean identity can since have been
        # given one only by a sibling's pause, which the CASE would keep anyway. Most refreshes find nothing to
        # clear and skip compiling three CASEs (most of the CPU this UPDATE costs).
        fields["error_kind"] = _unless_paused("error_kind", ErrorKind.NONE)
        fields["error_message"] = _unless_paused("error_message", "")
        fields["consecutive_failures"] = _unless_paused("consecutive_failures", 0)
    zips_error = batches.zips_error if batches is not None else None
    if zips_error is not None:
        fields.update(_retry_later(identity, zips_error, now))
    unwell = _was_visibly_unwell(identity) or zips_error is not None
    if not fetched.changes_anything and not unwell:
        # The usual case, nothing changed: this UPDATE is the only row the whole refresh writes.
        _release_with(identity.pk, token, fields)
        result, batches_result = plan.unchanged(), batches.plan.unchanged() if batches is not None else None
    else:
        # Everything in one transaction: on SQLite, one turn at the database's single write lock.
        with transaction.atomic():
            if exports is not None:
                apply.apply_exports(identity, exports, now)
            result = apply.apply_plan(plan, now)
            batches_result = pdf_batches.store(identity, batches, now) if batches is not None else None
            if unwell:
                # Committed together with the files, so their sequence number covers the identity's state too.
                seq = batches_result.change_seq if batches_result is not None else None
                fields["change_seq"] = seq or result.change_seq or ChangeCounter.next_value()
            _release_with(identity.pk, token, fields)
    if identity.credential.health != Credential.Health.OK:
        # Also resumes identities paused by an earlier key rejection: the key evidently works now.
        credentials.record_health(identity.credential, None, now=now)
    return result, batches_result


def _retry_later(identity: UserIdentity, error: WebAdmitError, now: datetime) -> dict[str, object]:
    """A batch's zips (P5) could not be read in a refresh whose listings were stored: the identity says why, and
    tries again after the usual backoff (or WebAdMIT's wait, for the whole key after a 429). It never pauses: its
    listings just answered, so the next refresh finds out whether the key or the identity is really refused."""
    failures = identity.consecutive_failures + 1
    if isinstance(error, RateLimited):
        wait = schedule.rate_limited_wait(identity, error.retry_after, failures)
        _note_rate_limited(identity.credential, until=now + wait, now=now)
    else:
        wait = schedule.backoff_delay(identity, failures)
    values: dict[str, object] = {
        "error_kind": kind_of(error.kind),
        "error_message": error.message,
        "consecutive_failures": failures,
    }
    if not identity.paused:
        # As when clearing an error: a sibling's pause written meanwhile (a rejected key) is kept.
        values = {name: _unless_paused(name, value) for name, value in values.items()}
    logger.info("Refresh of identity %s stored its listings; a batch's zips failed: %s", identity.pk, error.kind)
    return {**values, "next_refresh_at": now + wait}


def _unless_paused(field: str, value: object) -> Case:
    # A sibling's refresh may have paused this identity while ours ran (the key was rejected): its error stays
    # until the key is fixed, or resume_identities would not know to resume it.
    output_field = UserIdentity._meta.get_field(field)
    assert isinstance(output_field, Field)
    return Case(When(paused=True, then=F(field)), default=Value(value), output_field=output_field)


def _record_failure(identity: UserIdentity, error: WebAdmitError, token: datetime, now: datetime) -> None:
    if identity.paused and not isinstance(error, KeyRejected):
        _record_failed_check(identity, error, token, now)
        return
    failures = identity.consecutive_failures + 1
    kind = kind_of(error.kind)
    fields: dict[str, object] = {
        "refreshing_until": None,
        "last_attempt_at": now,
        "error_kind": kind,
        "error_message": error.message,
        "consecutive_failures": failures,
    }
    if isinstance(error, RateLimited):
        wait = schedule.rate_limited_wait(identity, error.retry_after, failures)
        _note_rate_limited(identity.credential, until=now + wait, now=now)
        fields["next_refresh_at"] = now + wait
    elif MEANINGS[kind].pauses:
        # A rejected key, an identity WebAdMIT does not know, a refused request: retrying the same call soon cannot
        # help, so the identity pauses with the message that says what to do, and is checked again by itself a
        # minute later, then less and less often (a rejected key's identities wait for their key's check).
        fields["paused"] = True
        fields["consecutive_failures"] = 1
        fields["next_refresh_at"] = schedule.next_check_at(identity, 0, now)
    else:
        fields["next_refresh_at"] = now + schedule.backoff_delay(identity, failures)
    with transaction.atomic():
        seq = ChangeCounter.next_value()
        fields["change_seq"] = seq
        _release_with(identity.pk, token, fields)
        if isinstance(error, KeyRejected):
            _pause_siblings(identity, error, seq)
    if isinstance(error, KeyRejected):
        credentials.record_health(identity.credential, error, now=now)


def _record_not_stored(identity: UserIdentity, error: DatabaseError, token: datetime, now: datetime) -> None:
    """WebAdMIT answered but the database refused what it sent (its transaction rolled back, nothing half-written):
    the identity shows the failure in words and retries with backoff like any failed refresh, rather than crashing
    and staying "Not refreshed yet" with no reason given. Other identities are refreshed by their own tasks."""
    logger.exception("Refresh of identity %s: WebAdMIT's answer could not be stored", identity.pk)
    failures = identity.consecutive_failures + 1
    # The database's own first line says what it refused (a value too long, a NUL) without repeating the value.
    reason = text.one_line(str(error).split("\n", 1)[0], 300) or type(error).__name__
    with transaction.atomic():
        _release_with(
            identity.pk,
            token,
            {
                "refreshing_until": None,
                "last_attempt_at": now,
                "error_kind": ErrorKind.NOT_STORED,
                "error_message": reason,
                "consecutive_failures": failures,
                "next_refresh_at": now + schedule.backoff_delay(identity, failures),
                "change_seq": ChangeCounter.next_value(),
            },
        )


def _record_failed_check(identity: UserIdentity, error: WebAdmitError, token: datetime, now: datetime) -> None:
    """A paused identity's check failed: it stays paused for the reason it paused (the one a person must act on,
    even if WebAdMIT now fails otherwise) and is checked again after twice as long, up to the longest step."""
    failures = identity.consecutive_failures + 1
    if isinstance(error, RateLimited):
        wait = schedule.rate_limited_wait(identity, error.retry_after, failures)
        _note_rate_limited(identity.credential, until=now + wait, now=now)
        next_check = now + max(wait, schedule.pause_check_delay(failures - 1))
    else:
        next_check = schedule.next_check_at(identity, failures - 1, now)
    fields: dict[str, object] = {
        "refreshing_until": None,
        "last_attempt_at": now,
        "consecutive_failures": failures,
        "next_refresh_at": next_check,
    }
    if kind_of(error.kind) == identity.error_kind:
        fields["error_message"] = error.message
    with transaction.atomic():
        # Open pages show when the next check is.
        fields["change_seq"] = ChangeCounter.next_value()
        _release_with(identity.pk, token, fields)
    logger.info("Identity %s is still paused (%s); checked again at %s", identity.pk, error.kind, next_check)


def _pause_siblings(identity: UserIdentity, error: KeyRejected, seq: int) -> None:
    """One key covers all of its user's identities: when it is rejected they all pause, keeping what they showed."""
    UserIdentity.objects.filter(credential_id=identity.credential_id, enabled=True, paused=False).exclude(
        pk=identity.pk
    ).update(paused=True, error_kind=ErrorKind.KEY_REJECTED, error_message=error.message, change_seq=seq)


def _release_with(identity_id: int, token: datetime, fields: dict[str, object]) -> None:
    """Writes the outcome and frees the lock in one UPDATE, only if this refresh still holds the lock."""
    if not UserIdentity.objects.filter(pk=identity_id, refreshing_until=token).update(**fields):
        # The lock expired and another refresh took over; its outcome is as good as ours. The files we applied
        # are safe either way: every write of the apply step is conditional.
        logger.warning("Refresh of identity %s outlived its lock; its outcome was not recorded", identity_id)


def _record_crash(identity_id: int, token: datetime, now: datetime) -> None:
    try:
        identity = UserIdentity.objects.get(pk=identity_id)
        failures = identity.consecutive_failures + 1
        _release_with(
            identity_id,
            token,
            {
                "refreshing_until": None,
                "last_attempt_at": now,
                "consecutive_failures": failures,
                "next_refresh_at": now + schedule.backoff_delay(identity, failures),
            },
        )
    except Exception:
        # The lock then simply expires; the original error is what matters and is re-raised by the caller.
        logger.exception("Could not release the refresh lock of identity %s", identity_id)
