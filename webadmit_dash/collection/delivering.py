"""Delivering one collected file to one destination, from the archive, once.

The FileDelivery row exists before the first try (choosing.owe_deliveries), so a retry, a repeated task or a worker
restarted after a crash works on the same record; the transports upload under a temporary name and move it into
place without overwriting, and a file already there with the same bytes counts as delivered, so a crash between the
move and this record's write still delivers exactly once.

A failure that may pass (Transient) is tried again with backoff, DELIVERY_ATTEMPTS times in all; one that will not
(Refused: a rejected password, a changed host key, a different file under the name) fails at once, without a storm
of retries. A delivery failed for good marks its file as needing attention and is told by notifications (which
read `told_at`); a later delivery of the file to that destination clears the mark.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from webadmit_dash.collection import archive, choosing, envelope, naming, retries
from webadmit_dash.collection.claims import Holder, LostClaim
from webadmit_dash.collection.connect import transport_for
from webadmit_dash.collection.destinations.base import DeliveryFailed, Payload, PayloadUnreadable, Refused, Transient
from webadmit_dash.collection.models import CollectedFile, Destination, FileDelivery
from webadmit_dash.collection.signals import delivery_attempted
from webadmit_dash.core.models import ChangeCounter, ExportFile, UserIdentity

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    state: str
    message: str = ""


def deliver(delivery_id: int, token: str | datetime) -> Outcome:
    """Delivers what the dispatcher claimed with `token`; does nothing if that claim is no longer the delivery's (a
    repeated or outdated message must never upload a file again: the reader may have taken the first copy)."""
    holder = Holder.start(FileDelivery, delivery_id, token)
    if holder is None:
        return Outcome("", "a repeated or outdated message: nothing done")
    delivery = FileDelivery.objects.select_related("collected", "destination").get(pk=delivery_id)
    collected, destination = delivery.collected, delivery.destination
    if retries.out_of_tries(delivery.attempts - 1):
        # Every earlier try was started and never finished: its worker died (out of memory, killed) each time.
        tries = delivery.attempts - 1
        return _failed(holder, delivery, f"Gave up after {tries} tries: the transfer never finished.")
    if not destination.enabled:
        message = f"Destination {destination.name} is disabled; waiting until it is enabled."
        return _later(holder, delivery, message, count=False)
    if not collected.in_archive:
        return _failed(
            holder, delivery, f"The archived copy of {collected.export_name} is gone (pruned): nothing to send."
        )
    try:
        transport = transport_for(destination)
        receipt = transport.deliver(_payload(delivery, collected, holder))
    except LostClaim:
        return Outcome(delivery.state, "another worker took over")
    except Refused as error:
        return _failed(holder, delivery, error.message)
    except Transient as error:
        return _later(holder, delivery, error.message)
    except PayloadUnreadable as error:
        name = collected.export_name
        return _failed(holder, delivery, f"The archived copy of {name} cannot be read: {error.message}")
    except envelope.Tampered as error:
        return _failed(holder, delivery, f"{error} It was not sent.")
    except DeliveryFailed as error:  # any other kind a transport may add: treated as one that may pass
        return _later(holder, delivery, error.message)
    return _delivered(holder, delivery, receipt.remote_name, receipt.checksum_verified, receipt.already_there)


def _payload(delivery: FileDelivery, collected: CollectedFile, holder: Holder) -> Payload:
    assert collected.size is not None

    @contextmanager
    def opened() -> Iterator[Iterator[bytes]]:
        # Verified before the first byte goes out: a tampered archive copy is never delivered, even in part.
        archive.verify(collected.storage_name, collected.wrapped_key, size=collected.size or 0, sha256=collected.sha256)
        yield holder.through(archive.plaintext(collected.storage_name, collected.wrapped_key))

    return Payload(name=delivery.file_name, size=collected.size, sha256=collected.sha256, open=opened)


def _delivered(holder: Holder, delivery: FileDelivery, remote_name: str, verified: bool, already: bool) -> Outcome:
    now = timezone.now()
    with transaction.atomic():
        settled = holder.settle(
            state=FileDelivery.State.DELIVERED,
            remote_name=remote_name,
            checksum_verified=verified,
            delivered_at=now,
            last_error="",
        )
        if not settled:
            return Outcome(delivery.state, "another worker took over")
        _update_attention(delivery.collected)
    delivery_attempted.send(sender=FileDelivery, destination=delivery.destination.name, outcome="delivered")
    note = " (it was already there)" if already else ""
    logger.info("Delivered file %s to %s%s", delivery.collected.file_webadmit_id, delivery.destination.name, note)
    return Outcome(FileDelivery.State.DELIVERED)


def _later(holder: Holder, delivery: FileDelivery, message: str, *, count: bool = True) -> Outcome:
    attempts = delivery.attempts if count else delivery.attempts - 1  # the start counted this try
    if count and retries.out_of_tries(attempts):
        return _failed(holder, delivery, f"{message} (gave up after {attempts} tries)")
    delay = retries.retry_delay(max(attempts, 1))
    if not holder.settle(attempts=attempts, last_error=message, next_attempt_at=timezone.now() + delay):
        return Outcome(delivery.state, "another worker took over")
    delivery_attempted.send(sender=FileDelivery, destination=delivery.destination.name, outcome="retrying")
    logger.info("Delivery %s to %s failed (%s); trying again in %s", delivery.pk, delivery.destination, message, delay)
    return Outcome(FileDelivery.State.PENDING, message)


def _failed(holder: Holder, delivery: FileDelivery, message: str) -> Outcome:
    now = timezone.now()
    with transaction.atomic():
        settled = holder.settle(state=FileDelivery.State.FAILED, last_error=message, failed_at=now)
        if not settled:
            return Outcome(delivery.state, "another worker took over")
        _update_attention(delivery.collected)
    delivery_attempted.send(sender=FileDelivery, destination=delivery.destination.name, outcome="failed")
    logger.warning("Delivery %s to %s failed for good: %s", delivery.pk, delivery.destination, message)
    return Outcome(FileDelivery.State.FAILED, message)


def _update_attention(collected: CollectedFile) -> None:
    """A file needs attention while a destination's latest delivery of it failed; the page is told (change_seq), on
    any delivery's end, since its row's delivered / delivery-failed mark may change even when its attention does not.
    """
    if collected.export_file_id is None:
        return
    latest_rounds = collected.deliveries.values("destination").annotate(latest=Max("round"))
    failed = any(
        collected.deliveries.filter(
            destination=row["destination"], round=row["latest"], state=FileDelivery.State.FAILED
        ).exists()
        for row in latest_rounds
    )
    current = (
        ExportFile.objects.filter(pk=collected.export_file_id).values_list("delivery_failed_at", flat=True).first()
    )
    fields: dict[str, object] = {"change_seq": ChangeCounter.next_value()}
    if failed != (current is not None):
        fields["delivery_failed_at"] = timezone.now() if failed else None
    ExportFile.objects.filter(pk=collected.export_file_id).update(**fields)
    # The identity's version too: open pages poll by it, and the dashboard's counts are cached by it.
    UserIdentity.objects.filter(pk=collected.identity_id).update(change_seq=fields["change_seq"])


def deliver_again(
    collected: CollectedFile, user: User | None, destinations: list[Destination] | None = None
) -> list[FileDelivery]:
    """A new round of delivery to each destination the file went (or was owed) to, or to those given, replayed from
    the archive. The name is the same, so a copy still there is found and not duplicated."""
    if not collected.in_archive:
        return []
    created = []
    with transaction.atomic():
        went_to = collected.deliveries.values_list("destination", flat=True).distinct()
        targets = destinations if destinations is not None else list(Destination.objects.filter(pk__in=went_to))
        for destination in targets:
            previous = collected.deliveries.filter(destination=destination).order_by("-round").first()
            if previous is not None and previous.state == FileDelivery.State.PENDING:
                continue  # already on its way
            created.append(
                FileDelivery.objects.create(
                    collected=collected,
                    destination=destination,
                    rule=previous.rule if previous else None,
                    round=(previous.round + 1) if previous else 1,
                    file_name=previous.file_name if previous else _default_name(collected),
                    requested_by=user,
                )
            )
    return created


def _default_name(collected: CollectedFile) -> str:
    return choosing.file_name(collected, naming.DEFAULT_TEMPLATE)
