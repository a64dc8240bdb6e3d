"""What people ask of the engine: Refresh now, Run again, and an administrator's Check now of a paused identity (a
download link is `downloads`).

The pages and the admin call these functions; they are the engine's only doors for them, so every request a person
makes passes the same checks (paused, already queued, the credential's rate-limit wait) as the engine's own work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from webadmit_dash.core.models import Credential, ExportFile, UserIdentity
from webadmit_dash.engine import credentials, interactive, schedule, tasks
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


def start_run(export_file: ExportFile) -> RunStarted:
    """Run again: asks WebAdMIT (E4) for a new run of this file's export, and switches its identity to the fast
    cadence so the run shows within seconds. Raises the client's WebAdmitError, after recording it, or at once
    while the credential's WebAdMIT is known not to answer (an interactive call: see `interactive`)."""
    identity = export_file.identity
    with interactive.calling(identity.credential) as client:
        run = client.start_export_run(identity.webadmit_id, export_file.export_webadmit_id)
    note_run_started(identity, timezone.now())
    known = ExportFile.objects.filter(identity=identity, webadmit_id=run.id).exists()
    return RunStarted(run, known)


def note_run_started(identity: UserIdentity, now: datetime) -> None:
    """A run was just started: refresh at the fast cadence right away, whatever the identity's files say."""
    soon = now + timedelta(seconds=schedule.fast_interval(identity))
    fields: dict[str, object] = {"run_started_at": now}
    if identity.next_refresh_at is None or identity.next_refresh_at > soon:
        fields["next_refresh_at"] = soon
    UserIdentity.objects.filter(pk=identity.pk).update(**fields)
    for name, value in fields.items():
        setattr(identity, name, value)
