"""What people ask of the engine: Refresh now and Run again (a download link is `downloads`).

The pages and the admin call these functions; they are the engine's only doors for them, so every request a person
makes passes the same checks (paused, already queued, the credential's rate-limit wait) as the engine's own work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.engine import credentials, schedule, tasks
from webadmit_dash.webadmit.errors import WebAdmitError
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


@dataclass(frozen=True)
class RunStarted:
    """What Run again got: the run WebAdMIT is making, and whether it is one we already knew (WebAdMIT answers a
    second start of an unfinished export with the run already under way)."""

    run: UpstreamFile
    already_known: bool


def start_run(export_file: ExportFile) -> RunStarted:
    """Run again: asks WebAdMIT (E4) for a new run of this file's export, and switches its identity to the fast
    cadence so the run shows within seconds. Raises the client's WebAdmitError, after recording it."""
    identity = export_file.identity
    try:
        with credentials.client_for(identity.credential) as client:
            run = client.start_export_run(identity.webadmit_id, export_file.export_webadmit_id)
    except WebAdmitError as error:
        credentials.record_health(identity.credential, error)
        raise
    credentials.record_health(identity.credential, None)
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
