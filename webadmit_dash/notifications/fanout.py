"""From the outbox to deliveries: each status transition the engine recorded becomes (at most) one event, and each
event the deliveries its subscribers are owed, in one transaction with marking the transitions done.

The outbox is StatusChange itself: the apply step writes each transition with `fanned_out_at` NULL in the same
transaction as the transition, knowing nothing of notifications. A fan-out claims a batch of those rows (FOR UPDATE
SKIP LOCKED on PostgreSQL, so two workers take different rows; SQLite serialises writers anyway), records events and
deliveries under unique keys, and stamps the rows, all in one transaction: a crash anywhere leaves the rows to the
next fan-out, and the unique keys make a repeat record nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from webadmit_dash.core.models import ExportFile, StatusChange
from webadmit_dash.notifications import recipients
from webadmit_dash.notifications.models import Delivery, Event, EventKind, IdentityWatch
from webadmit_dash.notifications.words import identity_short_name
from webadmit_dash.webadmit.statuses import FileStatus

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# The outcomes people can hear about; the steps before them are not news (a run that stays in one is "stuck").
KIND_OF_STATUS = {
    FileStatus.AVAILABLE.value: EventKind.AVAILABLE,
    FileStatus.SUCCESS_WITH_ERRORS.value: EventKind.SUCCESS_WITH_ERRORS,
    FileStatus.EMPTY_LIST.value: EventKind.EMPTY_LIST,
    FileStatus.FAILED.value: EventKind.FAILED,
}


@dataclass(frozen=True)
class FanOutResult:
    transitions: int = 0
    events: int = 0
    deliveries: int = 0
    immediate: int = 0


def fan_out(now: datetime | None = None, *, batch_size: int = BATCH_SIZE) -> FanOutResult:
    """Fans out one batch of the outbox; returns what it recorded (`transitions` < batch_size: the outbox is empty)."""
    now = now or timezone.now()
    with transaction.atomic():
        changes = list(
            StatusChange.objects.filter(fanned_out_at__isnull=True)
            .select_related("export_file__export", "export_file__identity")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")[:batch_size]
        )
        if not changes:
            return FanOutResult()
        events = record_events(_events_of(changes, now))
        owed = recipients.deliveries_for(events, now)
        created = Delivery.objects.bulk_create(owed, ignore_conflicts=True)
        StatusChange.objects.filter(pk__in=[change.pk for change in changes]).update(fanned_out_at=now)
    immediate = sum(not delivery.digest for delivery in created)
    if events:
        logger.info("Fanned out %s transitions: %s events, %s deliveries", len(changes), len(events), len(created))
    return FanOutResult(len(changes), len(events), len(created), immediate)


def record_events(events: Sequence[Event]) -> list[Event]:
    """Inserts the events whose key is new and returns them all as stored (with their ids)."""
    if not events:
        return []
    Event.objects.bulk_create(events, ignore_conflicts=True)
    return list(Event.objects.filter(key__in=[event.key for event in events]).select_related("credential"))


def _events_of(changes: list[StatusChange], now: datetime) -> list[Event]:
    first_listed = _first_listed_at({change.export_file.identity_id for change in changes if not change.old_status})
    events = []
    for change in changes:
        kind = KIND_OF_STATUS.get(change.new_status)
        export_file = change.export_file
        identity = export_file.identity
        if kind is None or not identity.enabled:
            continue
        if not change.old_status and export_file.first_seen_at <= first_listed[identity.pk]:
            continue  # a run finished before the identity was first listed: history, not news
        events.append(
            Event(
                kind=kind,
                key=f"status:{change.pk}",
                identity=identity,
                export_file=export_file,
                file_webadmit_id=export_file.webadmit_id,
                export_name=export_file.export_name,
                identity_name=identity_short_name(identity),
                status=change.raw_status,
                occurred_at=change.changed_at,
                created_at=now,
            )
        )
    return events


def _first_listed_at(identity_ids: set[int]) -> dict[int, datetime]:
    """When each identity was first listed, remembered from the first time a fan-out needed it.

    Taken then as its oldest file's first sight: that fan-out runs within seconds of the first listing, long before
    any of that listing's files could be pruned.
    """
    if not identity_ids:
        return {}
    known = dict(
        IdentityWatch.objects.filter(identity_id__in=identity_ids).values_list("identity_id", "first_listed_at")
    )
    missing = identity_ids - known.keys()
    if missing:
        oldest = (
            ExportFile.objects.filter(identity_id__in=missing)
            .values("identity_id")
            .annotate(first=Min("first_seen_at"))
            .values_list("identity_id", "first")
        )
        found = dict(oldest)
        IdentityWatch.objects.bulk_create(
            [IdentityWatch(identity_id=pk, first_listed_at=first) for pk, first in found.items()],
            ignore_conflicts=True,
        )
        known.update(found)
    return known
