"""Which files to collect and where each goes: the rules read against the files the engine saw become ready.

The scan reads only files changed since its mark (ExportFile.change_seq, indexed), so beat can run it every few
seconds: an idle scan is one query. A rule saved moves the mark back to the start, so files it covers that were
already ready are found too (within its `since`). Recording is idempotent (one CollectedFile per file, one
FileDelivery per file, destination and round), so a scan repeated after a crash records nothing twice.

A PDF Manager batch is recorded as its pieces (CollectedFile.Piece): one per zip once the engine has read its zips
(storing them moves the batch's change_seq on, so the scan sees it again then), and its index CSV when a delivery
rule covering it asks for one; the index goes only where such a rule sends it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db import transaction
from django.db.models import Max

from webadmit_dash.collection import naming
from webadmit_dash.collection.models import (
    CollectedFile,
    CollectionRule,
    DeliveryRule,
    FileDelivery,
    FileMatch,
    ScanMark,
)
from webadmit_dash.core.models import ExportFile, Kind
from webadmit_dash.webadmit.statuses import DOWNLOADABLE

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class Rules:
    collection: list[CollectionRule]
    delivery: list[DeliveryRule]

    @property
    def all(self) -> list[FileMatch]:
        return [*self.collection, *self.delivery]


def enabled_rules() -> Rules:
    return Rules(
        collection=list(CollectionRule.objects.filter(enabled=True)),
        delivery=list(
            DeliveryRule.objects.filter(enabled=True, destination__enabled=True).select_related("destination")
        ),
    )


def scan() -> int:
    """Records a CollectedFile for each ready file a rule covers that has none, and the deliveries owed for files
    already collected; returns how many files it looked at. Reads in batches up to the newest change."""
    mark, _ = ScanMark.objects.get_or_create(pk=1)
    top = ExportFile.objects.aggregate(top=Max("change_seq"))["top"] or 0
    if top <= mark.change_seq:
        return 0
    rules = enabled_rules()
    looked = 0
    start = mark.change_seq
    while rules.all:
        files = list(
            ExportFile.objects.filter(change_seq__gt=start, change_seq__lte=top, status__in=DOWNLOADABLE)
            .filter(gone_at__isnull=True)
            .filter(reduce(or_, (rule.files() for rule in rules.all)))
            .select_related("export", "identity")
            .prefetch_related("zips")
            .order_by("change_seq")[:BATCH]
        )
        _record(files, rules)
        looked += len(files)
        if len(files) < BATCH:
            break
        start = files[-1].change_seq
    # Only forward: a rule saved meanwhile moved the mark back to 0, and that scan must still happen.
    ScanMark.objects.filter(pk=1, change_seq=mark.change_seq).update(change_seq=top)
    return looked


def _record(files: list[ExportFile], rules: Rules) -> None:
    if not files:
        return
    with transaction.atomic():
        pieces = [piece for file in files for piece in _waiting(file, rules.delivery)]
        CollectedFile.objects.bulk_create(pieces, ignore_conflicts=True)
        collected = CollectedFile.objects.filter(
            export_file__in=files, state=CollectedFile.State.COLLECTED
        ).select_related("export_file__export", "export_file__identity")
        for item in collected:
            owe_deliveries(item, rules.delivery)


def _waiting(export_file: ExportFile, delivery_rules: list[DeliveryRule]) -> list[CollectedFile]:
    """What collection fetches of a file: the file itself; or a batch's zips (none until the engine read them),
    and its index when a delivery rule covering it asks for one."""
    if export_file.kind == Kind.EXPORT:
        return [_piece(export_file, CollectedFile.Piece.FILE)]
    zips = sorted(export_file.zips.all(), key=lambda each: each.part)
    if not zips:
        return []
    pieces = [
        _piece(
            export_file, CollectedFile.Piece.ZIP, zip_webadmit_id=each.zip_webadmit_id, part=each.part, parts=each.parts
        )
        for each in zips
    ]
    if any(rule.index_csv and rule.covers(export_file) for rule in delivery_rules):
        pieces.append(_piece(export_file, CollectedFile.Piece.INDEX))
    return pieces


def _piece(export_file: ExportFile, piece: str, **place: int) -> CollectedFile:
    return CollectedFile(
        export_file=export_file,
        piece=piece,
        identity_id=export_file.identity_id,
        file_webadmit_id=export_file.webadmit_id,
        export_webadmit_id=export_file.export_webadmit_id,
        export_name=export_file.export_name[:300],
        finished_at=export_file.status_changed_at,
        **place,
    )


def owe_deliveries(collected: CollectedFile, delivery_rules: list[DeliveryRule] | None = None) -> list[FileDelivery]:
    """Records the first round of each delivery the rules owe this collected file (none twice); returns those new."""
    export_file = collected.export_file
    if export_file is None:
        return []
    rules = delivery_rules if delivery_rules is not None else enabled_rules().delivery
    if collected.piece == CollectedFile.Piece.INDEX:
        rules = [rule for rule in rules if rule.index_csv]  # the index goes only where it was asked for
    owed = [rule for rule in rules if rule.covers(export_file)]
    created = []
    for rule in owed:
        delivery, was_created = FileDelivery.objects.get_or_create(
            collected=collected,
            destination=rule.destination,
            round=1,
            defaults={"rule": rule, "file_name": file_name(collected, rule.file_name)},
        )
        if was_created:
            created.append(delivery)
    return created


def file_name(collected: CollectedFile, template: str) -> str:
    export_file = collected.export_file
    identity = export_file.identity if export_file is not None else collected.identity
    fields = naming.NameFields(
        export=collected.export_name,
        identity=identity.title,
        cycle=identity.cycle,
        file_id=collected.file_webadmit_id,
        export_id=collected.export_webadmit_id,
        ext=collected.extension,
        finished=collected.finished_at,
    )
    try:
        name = naming.render(template, fields)
    except naming.BadTemplate:
        logger.warning("A delivery rule's file name template cannot be used; the default name is used instead")
        name = naming.render(naming.DEFAULT_TEMPLATE, fields)
    if collected.piece == CollectedFile.Piece.ZIP:
        return naming.with_suffix(name, f"_part{collected.part}of{collected.parts}")
    return naming.with_suffix(name, "_index") if collected.piece == CollectedFile.Piece.INDEX else name


def covered(export_file: ExportFile) -> bool:
    """Whether any enabled rule collects this file (the file page says so before it is collected)."""
    rules = enabled_rules().all
    if not rules:
        return False
    return ExportFile.objects.filter(reduce(or_, (rule.files() for rule in rules)), pk=export_file.pk).exists()
