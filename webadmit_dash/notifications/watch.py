"""Events that no transition records, found by reading state every minute: stuck runs and credential problems.

A stuck run is news once per file (its event key names the file). A credential problem is news once per episode:
an episode opens when the problem is first seen and closes when it is gone, so a key rejected again next month is
news again, while one rejected all week is told once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from webadmit_dash.core import stuck
from webadmit_dash.core.models import Credential, ExportFile, UserIdentity
from webadmit_dash.core.problems import ErrorKind
from webadmit_dash.notifications import recipients
from webadmit_dash.notifications.fanout import record_events
from webadmit_dash.notifications.models import CredentialAlert, Delivery, Event, EventKind
from webadmit_dash.notifications.words import identity_short_name
from webadmit_dash.shared.templatetags.display import describe_span
from webadmit_dash.webadmit.statuses import UNFINISHED

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchResult:
    stuck: int = 0
    credential_problems: int = 0
    deliveries: int = 0


def watch(now: datetime | None = None) -> WatchResult:
    now = now or timezone.now()
    stuck_events = stuck_runs(now)
    problems = credential_problems(now)
    events = record_events([*stuck_events, *problems])
    created = 0
    if events:
        with transaction.atomic():
            created = len(Delivery.objects.bulk_create(recipients.deliveries_for(events, now), ignore_conflicts=True))
    return WatchResult(len(stuck_events), len(problems), created)


def stuck_runs(now: datetime) -> list[Event]:
    """A stuck event for each running file past its export's threshold that has none yet."""
    candidates = list(
        ExportFile.objects.filter(
            status__in=[status.value for status in UNFINISHED],
            gone_at__isnull=True,
            first_seen_at__lt=now - stuck.FLOOR,
            identity__enabled=True,
        )
        .exclude(pk__in=Event.objects.filter(kind=EventKind.STUCK, export_file__isnull=False).values("export_file"))
        .select_related("export", "identity")
    )
    thresholds = stuck.thresholds({stuck.key_of(export_file) for export_file in candidates})
    events = []
    for export_file in candidates:
        threshold = thresholds[stuck.key_of(export_file)]
        running = stuck.stuck_for(export_file, threshold, now)
        if running is None:
            continue
        events.append(
            Event(
                kind=EventKind.STUCK,
                key=f"stuck:{export_file.pk}",
                identity=export_file.identity,
                export_file=export_file,
                file_webadmit_id=export_file.webadmit_id,
                export_name=export_file.export_name,
                identity_name=identity_short_name(export_file.identity),
                status=export_file.raw_status,
                detail=(
                    f"It was first seen {describe_span(running.total_seconds())} ago and is still "
                    f"{export_file.get_status_display()}; runs of this export count as stuck after "
                    f"{describe_span(threshold.total_seconds())}."
                ),
                occurred_at=now,
                created_at=now,
            )
        )
    return events


def credential_problems(now: datetime) -> list[Event]:
    """Opens an episode (and its event) for each credential problem that has none open; closes those now gone."""
    problems = _current_problems(now)
    open_alerts = {(alert.credential_id, alert.kind): alert for alert in CredentialAlert.objects.filter(ended_at=None)}
    for key, alert in open_alerts.items():
        if key not in problems:
            CredentialAlert.objects.filter(pk=alert.pk).update(ended_at=now)
    events = []
    for (credential_id, kind), (credential, affected, detail) in problems.items():
        if (credential_id, kind) in open_alerts:
            continue
        try:
            with transaction.atomic():
                alert = CredentialAlert.objects.create(credential=credential, kind=kind, started_at=now)
        except IntegrityError:
            continue  # another watcher opened it a moment ago
        events.append(
            Event(
                kind=EventKind.CREDENTIAL,
                key=f"credential:{alert.pk}",
                credential=credential,
                affected_identity_ids=sorted(affected),
                status=kind,
                detail=detail,
                occurred_at=now,
                created_at=now,
            )
        )
    return events


def _current_problems(now: datetime) -> dict[tuple[int, str], tuple[Credential, set[int], str]]:
    found: dict[tuple[int, str], tuple[Credential, set[int], str]] = {}
    rejected = Credential.objects.filter(health=Credential.Health.KEY_REJECTED)
    for credential in rejected:
        affected = set(UserIdentity.objects.filter(credential=credential, enabled=True).values_list("pk", flat=True))
        if affected:
            detail = (
                f"WebAdMIT rejected the API key “{credential.name}”, so its identities' files are not being "
                "refreshed until an administrator enters a new key."
            )
            found[(credential.pk, CredentialAlert.Kind.KEY_REJECTED)] = (credential, affected, detail)
    threshold = timedelta(minutes=settings.NOTIFY_UNREACHABLE_AFTER_MINUTES)
    unreachable = (
        UserIdentity.objects.filter(enabled=True, error_kind=ErrorKind.UNAVAILABLE)
        .alias(well_at=Coalesce("last_success_at", "created_at"))
        .filter(Q(well_at__lt=now - threshold))
        .select_related("credential")
    )
    by_credential: dict[int, list[UserIdentity]] = defaultdict(list)
    for identity in unreachable:
        by_credential[identity.credential_id].append(identity)
    for identities in by_credential.values():
        credential = identities[0].credential
        detail = (
            f"WebAdMIT has not answered the refreshes of credential “{credential.name}” for more than "
            f"{describe_span(threshold.total_seconds())}; statuses on the dashboard may be out of date."
        )
        found[(credential.pk, CredentialAlert.Kind.UNREACHABLE)] = (credential, {i.pk for i in identities}, detail)
    return found
