"""What collection did with one file, as the file page and the API tell it: collected (with its proof), each delivery
to each destination, or why not yet.

Read here once, in two queries (the collected file, then its deliveries with their destinations); the template and
the API's schema only lay it out. A PDF Manager batch is collected as pieces (its zips, and its index when asked
for): its trail is one step list per piece, read in the same two queries.
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
class Piece:
    """One zip of a batch (or its index) and its deliveries."""

    collected: CollectedFile
    deliveries: list[DeliveryStep]


@dataclass(frozen=True)
class Trail:
    """The file's collection trail; `collected` is None when nothing was recorded (then `covered` says whether a
    rule will collect it once it is ready). A batch's is in `pieces` (part 1 first, the index last) instead."""

    collected: CollectedFile | None
    deliveries: list[DeliveryStep]
    covered: bool
    retention_days: int
    pieces: tuple[Piece, ...] = ()

    @property
    def shown(self) -> bool:
        return self.collected is not None or self.covered or bool(self.pieces)

    @property
    def archived(self) -> bool:
        """Its copy is in the archive: Download serves it from there, and Deliver again replays it (a batch: a copy
        of one of its pieces)."""
        return any(each.in_archive for each in self._collected())

    @property
    def delivered_anywhere(self) -> bool:
        """Whether any delivery was owed (Deliver again has somewhere to send to)."""
        return bool(self.deliveries) or any(piece.deliveries for piece in self.pieces)

    def _collected(self) -> list[CollectedFile]:
        return [piece.collected for piece in self.pieces] or ([self.collected] if self.collected else [])


def of(export_file: ExportFile) -> Trail:
    rows = list(CollectedFile.objects.filter(export_file=export_file))
    days = settings.ARCHIVE_RETENTION_DAYS
    if not rows:
        return Trail(None, [], choosing.covered(export_file), days)
    steps = _deliveries(rows)
    if not export_file.is_batch:
        return Trail(rows[0], steps[rows[0].pk], False, days)
    rows.sort(key=lambda row: (row.piece == CollectedFile.Piece.INDEX, row.part or 0))
    return Trail(None, [], False, days, tuple(Piece(row, steps[row.pk]) for row in rows))


def _deliveries(collected: list[CollectedFile]) -> dict[int, list[DeliveryStep]]:
    """Every delivery of each, in the order they were made (a Deliver again's round after the one it repeats)."""
    tries = settings.DELIVERY_ATTEMPTS
    rows = (
        FileDelivery.objects.filter(collected__in=collected).select_related("destination").order_by("created_at", "pk")
    )
    steps: dict[int, list[DeliveryStep]] = {each.pk: [] for each in collected}
    for row in rows:
        steps[row.collected_id].append(DeliveryStep(row, row.destination.name, min(row.attempts + 1, tries), tries))
    return steps


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
    pieces = list(CollectedFile.objects.filter(export_file=export_file))
    kept = [collected for collected in pieces if collected.in_archive]
    if not kept:
        why = (
            "its archived copy was pruned"
            if any(collected.state == CollectedFile.State.PRUNED for collected in pieces)
            else "it has not been collected"
        )
        return DeliverAgain([], f"{name} is not in the archive ({why}): there is nothing to deliver again.", True)
    rounds = [delivery for collected in kept for delivery in delivering.deliver_again(collected, user)]
    if rounds:
        where = ", ".join(sorted({delivery.destination.name for delivery in rounds}))
        return DeliverAgain(rounds, f"{name} will be delivered again to {where} within a few seconds.")
    if FileDelivery.objects.filter(collected__in=kept).exists():
        return DeliverAgain([], f"{name} is already on its way to every destination it goes to.")
    return DeliverAgain([], f"{name} has no destination to be delivered to: no delivery rule covers it.", True)
