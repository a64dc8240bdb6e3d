"""A PDF Manager batch's zips as the API gives them: each part with our download address, and (one batch) what
collection kept of it and where it went.

The list reads the zips of a page's batches in one query, whatever the page's size (as the page does with
listing.zip_parts_of), with whether collection kept each one: a zip in the archive is downloadable after WebAdMIT
forgot its batch, as an archived export file is. One batch's zips come with its collection trail (web.trail, read
once for the whole file), so the detail adds no query per zip either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from webadmit_dash.collection.models import CollectedFile
from webadmit_dash.core.models import BatchZip, ExportFile
from webadmit_dash.web import trail


@dataclass(frozen=True)
class Zip:
    """One zip of a batch ("part 2 of 3"), and its collection record when one is known (one batch's detail)."""

    part: int
    parts: int
    archived: bool
    piece: trail.Piece | None = None


def of_files(files: Iterable[ExportFile]) -> dict[int, list[Zip]]:
    """The zips of these files' batches, part 1 first, by file: one query, none without a batch among them."""
    pks = [each.pk for each in files if each.is_batch]
    if not pks:
        return {}
    kept = CollectedFile.objects.filter(
        export_file=OuterRef("export_file"),
        piece=CollectedFile.Piece.ZIP,
        part=OuterRef("part"),
        state=CollectedFile.State.COLLECTED,
    ).exclude(storage_name="")  # CollectedFile.in_archive, in SQL
    rows = (
        BatchZip.objects.filter(export_file_id__in=pks)
        .annotate(archived=Exists(kept))
        .order_by("export_file_id", "part")
        .values_list("export_file_id", "part", "parts", "archived")
    )
    found: dict[int, list[Zip]] = {}
    for export_file_id, part, parts, archived in rows:
        found.setdefault(export_file_id, []).append(Zip(part, parts, archived))
    return found


def of_batch(batch: ExportFile, found: trail.Trail) -> list[Zip]:
    """One batch's zips with what collection did with each (its trail's zip pieces, matched by part)."""
    pieces = {piece.collected.part: piece for piece in found.pieces if piece.collected.piece == CollectedFile.Piece.ZIP}
    return [
        Zip(
            each.part, each.parts, each.part in pieces and pieces[each.part].collected.in_archive, pieces.get(each.part)
        )
        for each in batch.zips.order_by("part")
    ]


def index_of(found: trail.Trail) -> trail.Piece | None:
    """The batch's index CSV (made from its archived zips when a delivery rule asks for one), if it has one."""
    return next((piece for piece in found.pieces if piece.collected.piece == CollectedFile.Piece.INDEX), None)
