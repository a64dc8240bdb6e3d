"""What collection did with one file, as the file page and the API tell it: collected (with its proof), each delivery
to each destination, or why not yet.

Read here once, in two queries (the collected file, then its deliveries with their destinations); the template and
the API's schema only lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User

from webadmit_dash.collection import choosing, delivering
from webadmit_dash.collection.models import CollectedFile, FileDelivery
from webadmit_dash.core.models import ExportFile


@dataclass(frozen=True)
class DeliveryStep:
    """One delivery of the file to one destination (one round of it)."""

    delivery: FileDelivery
    destination: str
    next_try: int  # the try a pending delivery waits for: attempts so far + 1
    tries: int  # DELIVERY_ATTEMPTS

    @property
    def state(self) -> str:
        return self.delivery.state


@dataclass(frozen=True)
class Trail:
    """The file's collection trail; `collected` is None when nothing was recorded (then `covered` says whether a
    rule will collect it once it is ready)."""

    collected: CollectedFile | None
    deliveries: list[DeliveryStep]
    covered: bool
    retention_days: int

    @property
    def shown(self) -> bool:
        return self.collected is not None or self.covered

    @property
    def archived(self) -> bool:
        """Its copy is in the archive: Download serves it from there, and Deliver again replays it."""
        return self.collected is not None and self.collected.in_archive


def of(export_file: ExportFile) -> Trail:
    collected = CollectedFile.objects.filter(export_file=export_file).first()
    if collected is None:
        return Trail(None, [], choosing.covered(export_file), settings.ARCHIVE_RETENTION_DAYS)
    return Trail(collected, deliveries(collected), False, settings.ARCHIVE_RETENTION_DAYS)


def deliveries(collected: CollectedFile) -> list[DeliveryStep]:
    """Every delivery, in the order they were made (a Deliver again's round after the one it repeats)."""
    tries = settings.DELIVERY_ATTEMPTS
    rows = collected.deliveries.select_related("destination").order_by("created_at", "pk")
    return [DeliveryStep(row, row.destination.name, min(row.attempts + 1, tries), tries) for row in rows]


@dataclass(frozen=True)
class DeliverAgain:
    """What Deliver again did, in words for a message or the API's answer."""

    rounds: list[FileDelivery]
    message: str
    refused: bool = False


def deliver_again(export_file: ExportFile, user: User) -> DeliverAgain:
    """A new round to each destination the file went to (collection.delivering), or why not, in words. The caller
    has checked that the user may see the file."""
    name = f"{export_file.export_name} (file {export_file.webadmit_id})"
    collected = CollectedFile.objects.filter(export_file=export_file).first()
    if collected is None or not collected.in_archive:
        why = (
            "its archived copy was pruned"
            if collected is not None and collected.state == CollectedFile.State.PRUNED
            else "it has not been collected"
        )
        return DeliverAgain([], f"{name} is not in the archive ({why}): there is nothing to deliver again.", True)
    rounds = delivering.deliver_again(collected, user)
    if rounds:
        where = ", ".join(sorted(delivery.destination.name for delivery in rounds))
        return DeliverAgain(rounds, f"{name} will be delivered again to {where} within a few seconds.")
    if collected.deliveries.exists():
        return DeliverAgain([], f"{name} is already on its way to every destination it goes to.")
    return DeliverAgain([], f"{name} has no destination to be delivered to: no delivery rule covers it.", True)
