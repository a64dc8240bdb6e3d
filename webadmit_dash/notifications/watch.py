"""Events that no transition records, found by reading state every minute: stuck runs, credential problems (and
their all-clears) and deliveries that failed for good.

A stuck run is news once per file (its event key names the file). A credential problem is news once per episode:
an episode opens when the problem is first seen and closes when it is gone, so a key rejected again next month is
news again, while one rejected all week is told once; its end is told once, to those told of its start. A failed
delivery is news once per delivery round: collection leaves `FileDelivery.told_at` empty when it fails one for good
(its outbox), and the event, its messages and the stamp are written in one transaction, so a crash tells it at the
next watch and a repeat tells it never twice.
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

from webadmit_dash.collection.models import FileDelivery
from webadmit_dash.core import stuck
from webadmit_dash.core.models import Credential, ExportFile, UserIdentity
from webadmit_dash.core.problems import ErrorKind
from webadmit_dash.core.text import one_line
from webadmit_dash.notifications import recipients
from webadmit_dash.notifications.fanout import record_events
from webadmit_dash.notifications.models import CredentialAlert, Delivery, Event, EventKind
from webadmit_dash.notifications.words import identity_short_name
from webadmit_dash.schedules import news
from webadmit_dash.shared.templatetags.display import describe_span
from webadmit_dash.webadmit.statuses import UNFINISHED

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchResult:
    stuck: int = 0
    credential_problems: int = 0
    delivery_failures: int = 0
    deliveries: int = 0
    expected_files: int = 0  # misses and late arrivals told
    all_clears: int = 0  # ends of credential problems told


def watch(now: datetime | None = None) -> WatchResult:
    now = now or timezone.now()
    stuck_events = stuck_runs(now)
    current = _current_problems(now)
    all_clears, told_clear = credential_all_clears(now, current)
    problems = credential_problems(now, current)
    events = record_events([*stuck_events, *problems])
    created = 0
    if events:
        with transaction.atomic():
            created = len(Delivery.objects.bulk_create(recipients.deliveries_for(events, now), ignore_conflicts=True))
    failures, told = delivery_failures(now)
    misses, told_misses = expected_files(now)
    return WatchResult(
        len(stuck_events), len(problems), failures, created + told + told_misses + told_clear, misses, all_clears
    )


# Per watch: a destination down for hours fails many files at once; the rest is told a minute later.
FAILURES_PER_WATCH = 200
REASON_MAX = 1000


def delivery_failures(now: datetime) -> tuple[int, int]:
    """Tells each delivery failed for good and not yet told: records its event and the messages owed, and stamps
    `told_at`, in one transaction. Returns (failures told, messages owed)."""
    with transaction.atomic():
        untold = list(
            FileDelivery.objects.filter(state=FileDelivery.State.FAILED, told_at__isnull=True)
            .select_related("collected__identity", "destination")
            # Two watchers take different rows on PostgreSQL; SQLite serialises writers anyway.
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("failed_at", "pk")[:FAILURES_PER_WATCH]
        )
        if not untold:
            return 0, 0
        events = record_events([_delivery_failed_event(failure, now) for failure in untold])
        owed = recipients.deliveries_for(events, now)
        created = Delivery.objects.bulk_create(owed, ignore_conflicts=True)
        FileDelivery.objects.filter(pk__in=[failure.pk for failure in untold]).update(told_at=now)
    logger.info("Told %s failed deliveries: %s messages", len(untold), len(created))
    return len(untold), len(created)


def _delivery_failed_event(failure: FileDelivery, now: datetime) -> Event:
    collected = failure.collected
    return Event(
        kind=EventKind.DELIVERY_FAILED,
        key=f"delivery_failed:{failure.pk}",
        identity=collected.identity,
        export_file_id=collected.export_file_id,
        file_webadmit_id=collected.file_webadmit_id,
        export_name=collected.export_name,
        identity_name=identity_short_name(collected.identity),
        destination_name=failure.destination.name,
        # The transport's words (a refused password, a changed host key, a full disk); never a secret.
        detail=one_line(failure.last_error, REASON_MAX) or "no reason was recorded",
        occurred_at=failure.failed_at or now,
        created_at=now,
    )


def expected_files(now: datetime) -> tuple[int, int]:
    """Tells the watchdog's news (schedules/news.py, its outbox): each miss not told yet, and the late arrival of a
    file whose miss was told. Events, messages and stamps in one transaction; the stamps are conditional, so a
    watch run twice tells once. Returns (misses and arrivals told, messages owed)."""
    with transaction.atomic():
        missing = news.untold_missing()
        arrived = news.untold_all_clear()
        if not missing and not arrived:
            return 0, 0
        notices = [news.notice(miss) for miss in missing] + [news.notice(miss, all_clear=True) for miss in arrived]
        events = record_events([_watchdog_event(notice, now) for notice in notices])
        created = Delivery.objects.bulk_create(recipients.deliveries_for(events, now), ignore_conflicts=True)
        news.mark_told(missing, now)
        news.mark_told(arrived, now, all_clear=True)
    logger.info("Told %s missing and %s late files: %s messages", len(missing), len(arrived), len(created))
    return len(notices), len(created)


def _watchdog_event(notice: news.Notice, now: datetime) -> Event:
    return Event(
        kind=EventKind.MISSING if notice.kind == news.MISSING else EventKind.ARRIVED_LATE,
        key=notice.key,
        identity_id=notice.identity_id,
        export_file_id=notice.export_file_id,
        export_name=notice.export_name,
        identity_name=notice.identity_name,
        detail=notice.text,
        occurred_at=notice.occurred_at,
        created_at=now,
    )


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


Problems = dict[tuple[int, str], tuple[Credential, set[int], str]]


def credential_all_clears(now: datetime, problems: Problems | None = None) -> tuple[int, int]:
    """Closes the episodes of credential problems now gone, telling each one's all-clear. Returns (all-clears
    told, messages owed)."""
    problems = _current_problems(now) if problems is None else problems
    told = owed = 0
    for alert in CredentialAlert.objects.filter(ended_at=None):
        if (alert.credential_id, alert.kind) not in problems:
            messages = end_episode(alert, now)
            told, owed = told + (messages is not None), owed + (messages or 0)
    return told, owed


def credential_problems(now: datetime, problems: Problems | None = None) -> list[Event]:
    """Opens an episode (and its event) for each credential problem that has none open."""
    problems = _current_problems(now) if problems is None else problems
    open_alerts = {(alert.credential_id, alert.kind): alert for alert in CredentialAlert.objects.filter(ended_at=None)}
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


def end_episode(alert: CredentialAlert, now: datetime) -> int | None:
    """Closes a credential problem's episode and, when it really ended (the key is accepted, WebAdMIT answers: not
    merely every identity disabled), tells its all-clear to those who were told of it: the event, its messages and
    the close in one transaction, the close conditional, so two watchers tell it once. Returns the messages owed,
    or None when no all-clear was told."""
    with transaction.atomic():
        if not CredentialAlert.objects.filter(pk=alert.pk, ended_at=None).update(ended_at=now):
            return None  # another watcher closed it
        if not settings.NOTIFY_ALL_CLEAR or not _recovered(alert):
            return None
        problem = Event.objects.filter(key=f"credential:{alert.pk}").first()
        if problem is None:
            return None  # pruned, or its episode opened before this was recorded
        [all_clear] = record_events([_all_clear_event(problem, alert, now)])
        created = Delivery.objects.bulk_create(
            recipients.all_clear_deliveries(problem, all_clear, now), ignore_conflicts=True
        )
    logger.info("Credential %s: %s is over; %s all-clear messages", alert.credential_id, alert.kind, len(created))
    return len(created)


def _recovered(alert: CredentialAlert) -> bool:
    """Whether the problem itself is gone, rather than only the identities it affected (disabled meanwhile)."""
    if alert.kind == CredentialAlert.Kind.KEY_REJECTED:
        return Credential.objects.filter(pk=alert.credential_id).exclude(health=Credential.Health.KEY_REJECTED).exists()
    return (
        UserIdentity.objects.filter(credential_id=alert.credential_id, enabled=True)
        .exclude(error_kind=ErrorKind.UNAVAILABLE)
        .exists()
    )


ALL_CLEAR_DETAIL = {
    CredentialAlert.Kind.KEY_REJECTED: (
        "WebAdMIT accepts the API key “{name}” again, so its identities' files are refreshed as usual."
    ),
    CredentialAlert.Kind.UNREACHABLE: (
        "WebAdMIT answers the refreshes of credential “{name}” again; the dashboard is catching up with its statuses."
    ),
}


def _all_clear_event(problem: Event, alert: CredentialAlert, now: datetime) -> Event:
    credential = problem.credential
    return Event(
        kind=EventKind.CREDENTIAL,
        key=f"credential_all_clear:{alert.pk}",
        credential=credential,
        affected_identity_ids=problem.affected_identity_ids,
        status=problem.status,
        all_clear=True,
        detail=ALL_CLEAR_DETAIL[CredentialAlert.Kind(alert.kind)].format(name=credential.name if credential else ""),
        occurred_at=now,
        created_at=now,
    )


def _current_problems(now: datetime) -> Problems:
    found: Problems = {}
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
