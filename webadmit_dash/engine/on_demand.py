"""What people ask of the engine: Refresh now, Run again (and a schedule's run, which is started the same way),
acknowledging a failure, and an administrator's Check now of a paused identity (a download link is `downloads`).

The pages and the admin call these functions; they are the engine's only doors for them, so every request a person
makes passes the same checks (paused, already queued, the credential's rate-limit wait) as the engine's own work.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from webadmit_dash.core.models import ChangeCounter, Credential, Export, ExportFile, Kind, RunRequest, UserIdentity
from webadmit_dash.engine import apply, credentials, interactive, pdf_batches, run_callbacks, schedule, tasks
from webadmit_dash.webadmit.errors import RequestRejected, WebAdmitError
from webadmit_dash.webadmit.statuses import FileStatus
from webadmit_dash.webadmit.types import ExportFile as UpstreamFile


def request_refresh(identity: UserIdentity, *, now: datetime | None = None) -> bool:
    """Refresh now: enqueues an immediate refresh of the identity, after the current transaction commits.

    Returns False without enqueuing when one is already queued, when the identity is disabled or paused (it
    waits for its problem to be fixed), or while its credential waits out WebAdMIT's Retry-After.
    """
    now = now or timezone.now()
    if not schedule.queueable(now).filter(pk=identity.pk).update(refresh_queued_at=now):
        return False
    identity.refresh_queued_at = now
    tasks.enqueue_refresh(identity.pk)
    return True


class CallbackRefresh(enum.StrEnum):
    """What a call from WebAdMIT (E4's callback) got: when the identity will be read again."""

    QUEUED = "queued"  # at once
    ALREADY_QUEUED = "already_queued"  # a refresh was queued and not started: it reads WebAdMIT after the call
    AFTER_CURRENT = "after_current"  # one was running (it may have read WebAdMIT before the change): another follows
    WHEN_ALLOWED = "when_allowed"  # the key waits out WebAdMIT's Retry-After: the next refresh brought forward to then
    NOT_NOW = "not_now"  # disabled or paused: it waits for its problem to be fixed (or for its own check)


def refresh_for_callback(identity: UserIdentity, *, now: datetime | None = None) -> CallbackRefresh:
    """WebAdMIT says a run of this identity is ready: read its files as soon as WebAdMIT may be asked, rather than
    at the next cadence step. The status is never taken from the call (nothing signs it): this only asks WebAdMIT
    sooner, within the rules every refresh keeps (paused, the key's Retry-After, one refresh at a time)."""
    now = now or timezone.now()
    current = UserIdentity.objects.select_related("credential").get(pk=identity.pk)
    if not current.enabled or current.paused:
        return CallbackRefresh.NOT_NOW
    backoff_until = current.credential.backoff_until
    if backoff_until is not None and backoff_until > now:
        # Due the moment the wait ends (the dispatcher's next turn after it), not a whole cadence step later.
        UserIdentity.objects.filter(pk=current.pk, next_refresh_at__gt=backoff_until).update(
            next_refresh_at=backoff_until
        )
        return CallbackRefresh.WHEN_ALLOWED
    if current.refreshing_until is not None and current.refreshing_until > now:
        UserIdentity.objects.filter(pk=current.pk).update(refresh_queued_at=now)
        tasks.enqueue_refresh_after_current(current.pk)
        return CallbackRefresh.AFTER_CURRENT
    if request_refresh(current, now=now):
        return CallbackRefresh.QUEUED
    return CallbackRefresh.ALREADY_QUEUED


def check_now(identity: UserIdentity) -> bool:
    """Check now: a paused identity's check (or its key's, when the key was rejected) runs at the dispatcher's next
    turn, seconds away, instead of at its scheduled time. False when the identity is not paused for a reason that
    heals by itself (disabled, paused by hand, or not paused at all)."""
    credential = identity.credential
    if not identity.enabled:
        return False
    if identity.paused and credential.health == Credential.Health.KEY_REJECTED:
        credentials.force_key_check(credential)
        return True
    paused = UserIdentity.objects.filter(pk=identity.pk, paused=True, error_kind__in=schedule.HEALING_KINDS)
    return bool(paused.update(next_refresh_at=timezone.now(), refresh_queued_at=None))


@dataclass(frozen=True)
class RunStarted:
    """What Run again got: the run WebAdMIT is making, and whether it is one we already knew (WebAdMIT answers a
    second start of an unfinished export with the run already under way)."""

    run: UpstreamFile
    already_known: bool
    file_pk: int  # the run's row here, stored at once
    request_pk: int | None = None  # its audit (RunRequest), which a schedule's record links to


def start_run(export_file: ExportFile, user: User | None = None) -> RunStarted:
    """Run again: asks WebAdMIT (E4) for a new run of this file's export, or (a PDF Manager batch) for a new batch
    of its template (P3); stores the run at once (so pages show it without waiting for a refresh), records who asked
    (RunRequest, refusals included), and switches the identity to the fast cadence so the run's progress shows
    within seconds. Raises the client's WebAdmitError, after recording it, or at once while the credential's
    WebAdMIT is known not to answer (an interactive call: see `interactive`)."""
    audit = RunRequest(
        user=user,
        identity=export_file.identity,
        requested_from=export_file,
        file_webadmit_id=export_file.webadmit_id,
        export_webadmit_id=export_file.export_webadmit_id,
    )
    return _start(audit, user, export_file.kind_enum)


def start_scheduled_run(export: Export, label: str) -> RunStarted:
    """A schedule's run: the same E4 call, audit and budget as Run again (the key's interactive share, its circuit
    and backoff), with the schedule named as what started it (`label`, e.g. "Weekdays at 06:00")."""
    _exports_only(export.kind)
    audit = RunRequest(
        identity=export.identity,
        export_webadmit_id=export.webadmit_id,
        source=RunRequest.Source.SCHEDULE,
        source_label=label[:200],
    )
    return _start(audit, None)


def _exports_only(kind: str) -> None:
    """E4 starts export runs: asked with a PDF Manager template's id, it would start nothing, or another export's
    run should an export have the same id (the two are numbered apart). Refused before any call, in words."""
    if kind != Kind.EXPORT:
        raise RequestRejected("Schedules start export runs only: start a new PDF Manager batch with Run again.")


def _start(audit: RunRequest, user: User | None, kind: Kind = Kind.EXPORT) -> RunStarted:
    identity = audit.identity
    asked = run_callbacks.for_new_run(kind)  # None: WebAdMIT is not asked to call back about this run
    audit.callback_token = asked.token if asked else None
    callback = asked.url if asked else None
    try:
        with interactive.calling(identity.credential, user) as client:
            if kind == Kind.PDF_BATCH:
                # Every P3 makes a new batch (none is "already running"), read as the apply step reads P4's.
                batch = client.start_pdf_manager_batch(
                    identity.webadmit_id, audit.export_webadmit_id, callback=callback
                )
                run = pdf_batches.as_listing([batch])[0]
            else:
                run = client.start_export_run(identity.webadmit_id, audit.export_webadmit_id, callback=callback)
    except WebAdmitError as error:
        audit.message = error.message
        audit.callback_token = None  # WebAdMIT will not call about a run it did not start
        audit.save()
        raise
    now = timezone.now()
    note_run_started(identity, now)
    known = ExportFile.objects.filter(identity=identity, kind=kind, webadmit_id=run.id).exists()
    with transaction.atomic():
        audit.run_id = apply.record_started_run(identity, run, now, kind)
        audit.run_webadmit_id, audit.already_running = run.id, known
        audit.save()
    return RunStarted(run, known, audit.run_id, audit.pk)


def note_run_started(identity: UserIdentity, now: datetime) -> None:
    """A run was just started: refresh at the fast cadence right away, whatever the identity's files say."""
    soon = now + timedelta(seconds=schedule.fast_interval(identity))
    fields: dict[str, object] = {"run_started_at": now}
    if identity.next_refresh_at is None or identity.next_refresh_at > soon:
        fields["next_refresh_at"] = soon
    UserIdentity.objects.filter(pk=identity.pk).update(**fields)
    for name, value in fields.items():
        setattr(identity, name, value)


def acknowledge_failure(export_file: ExportFile, user: User, *, undo: bool = False) -> bool:
    """Someone has seen this failure: it stops needing attention (sorted with the settled files, no longer counted
    in the title), keeping who and when. `undo` takes that back. Returns False when the file is not failed."""
    fields: dict[str, object] = {
        "acknowledged_at": None if undo else timezone.now(),
        "acknowledged_by": None if undo else user,
    }
    with transaction.atomic():
        failed = ExportFile.objects.filter(pk=export_file.pk, status=FileStatus.FAILED)
        if not failed.exists():
            return False
        # A new sequence number, so open pages re-render the row and their counts.
        seq = ChangeCounter.next_value()
        failed.update(**fields, change_seq=seq)
        UserIdentity.objects.filter(pk=export_file.identity_id).update(change_seq=seq)
    for name, value in fields.items():
        setattr(export_file, name, value)
    return True
