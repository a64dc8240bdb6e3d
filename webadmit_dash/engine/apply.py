"""The apply step: turns what WebAdMIT listed (E6 files, E3 exports; P4 batches and P1 templates, as rows of the same
tables of kind PDF_BATCH: engine.pdf_batches) into rows, writing only what changed. A listing is of one kind and
touches only rows of that kind.

No HTTP and no Celery: the refresh plans a listing (reading only), then applies the plan; tests call these directly.
Every write is conditional on the state it was computed from, so two applies of the same listing that race each
other (a redelivered task, an expired lock) still record each transition exactly once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery

from webadmit_dash.core.models import ChangeCounter, Export, ExportFile, Kind, StatusChange, UserIdentity
from webadmit_dash.engine import first_sight, incoming
from webadmit_dash.webadmit import types
from webadmit_dash.webadmit.statuses import DOWNLOADABLE, FileStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyResult:
    """What one listing changed. `change_seq` is the sequence stamped on the changes, None when nothing did."""

    created: int = 0
    transitions: int = 0
    updated: int = 0
    gone: int = 0
    # Files whose superseding run changed (a failure that a later good run now supersedes, mostly).
    superseded: int = 0
    # Whether any listed file is still running: the scheduler's fast/slow switch.
    running: bool = False
    # Export ids of listed files that no Export row names yet: the refresh asks E3 for them.
    unknown_export_ids: frozenset[int] = field(default_factory=frozenset)
    change_seq: int | None = None

    @property
    def changed(self) -> bool:
        return self.change_seq is not None


@dataclass(frozen=True)
class ExportsResult:
    created: int = 0
    renamed: int = 0


class _Row(NamedTuple):
    """The columns of a stored file the diff needs; far cheaper to load than model instances."""

    pk: int
    webadmit_id: int
    export_webadmit_id: int
    export_id: int | None
    href: str
    status: str
    raw_status: str
    gone_at: datetime | None


@dataclass
class _Diff:
    new: list[types.ExportFile] = field(default_factory=list)
    changed: list[tuple[_Row, types.ExportFile]] = field(default_factory=list)
    gone: list[_Row] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.new or self.changed or self.gone)


@dataclass(frozen=True)
class ListingPlan:
    """What one listing would change, worked out by reading only. The refresh plans, asks E3 for the exports the
    plan cannot name, and only then writes, so that it takes its turn at the write lock once."""

    identity: UserIdentity
    listing: list[types.ExportFile]
    diff: _Diff
    running: bool
    unknown_export_ids: frozenset[int]
    kind: Kind = Kind.EXPORT

    @property
    def changes_anything(self) -> bool:
        return bool(self.diff)

    def unchanged(self) -> ApplyResult:
        """What applying a plan that changes nothing reports (and all it does)."""
        return ApplyResult(running=self.running, unknown_export_ids=self.unknown_export_ids)


def apply_listing(identity: UserIdentity, listing: list[types.ExportFile], now: datetime) -> ApplyResult:
    """Brings the identity's files in line with one E6 listing.

    New files are created, each status transition updates its file and adds one StatusChange, files no longer
    listed are marked gone (never deleted here), and unchanged files are not written at all: when nothing changed
    this runs a single SELECT and no transaction.
    """
    return apply_plan(plan_listing(identity, listing), now)


def plan_listing(identity: UserIdentity, listing: list[types.ExportFile], kind: Kind = Kind.EXPORT) -> ListingPlan:
    """What one listing of `kind` (E6's files, or P4's batches as pdf_batches reads them) would change."""
    # Compared and stored as the columns hold them (NUL removed, cut to fit), so a hostile text is stored once and
    # not seen as changed again on every refresh.
    listing = [incoming.export_file(item) for item in listing]
    # WebAdMIT should never list a file twice; if it does, the last entry wins rather than the unique constraint.
    listed = {item.id: item for item in listing}
    rows = {row.webadmit_id: row for row in _stored_rows(identity, kind)}
    diff = _diff(rows, listed)
    unknown = {item.export_id for item in listed.values() if _unnamed(rows.get(item.id), item)}
    new_export_ids = {item.export_id for item in diff.new}
    unknown |= new_export_ids - _export_pks(identity, new_export_ids, kind).keys()
    running = any(not item.status.is_finished for item in listed.values())
    return ListingPlan(identity, listing, diff, running, frozenset(unknown), kind)


def apply_plan(plan: ListingPlan, now: datetime) -> ApplyResult:
    """Writes what the plan found changed, in one transaction (a savepoint inside the caller's), or nothing."""
    try:
        return _write(plan, now)
    except IntegrityError:
        # Another refresh inserted the same new files first (possible only once the refresh lock has expired).
        # It has committed, so planning again turns our inserts into no-ops.
        logger.info("Concurrent apply for identity %s; re-reading its files", plan.identity.pk)
        return _write(plan_listing(plan.identity, plan.listing, plan.kind), now)


def _write(plan: ListingPlan, now: datetime) -> ApplyResult:
    if not plan.changes_anything:
        return plan.unchanged()
    identity, diff = plan.identity, plan.diff
    with transaction.atomic():
        seq = ChangeCounter.next_value()
        # Read here rather than when planning: E3 may have named the new files' exports in between.
        export_pks = _export_pks(identity, {item.export_id for item in diff.new}, plan.kind)
        created = first_sight.insert(identity, diff.new, export_pks, seq, now, plan.kind)  # the first sweep's hot path
        transitions, updated = _update(diff.changed, seq, now)
        gone = _mark_gone(diff.gone, seq, now)
        superseded = supersede(identity.pk, _exports_touched(diff), seq, plan.kind)
        UserIdentity.objects.filter(pk=identity.pk).update(change_seq=seq)
    identity.change_seq = seq
    unknown = plan.unknown_export_ids - export_pks.keys()
    return ApplyResult(created, transitions, updated, gone, superseded, plan.running, frozenset(unknown), seq)


def _exports_touched(diff: _Diff) -> set[int]:
    """The exports whose runs a diff can re-order as good or not: those of new files and of changed ones (under
    their old export id too, in the unlikely case WebAdMIT moved a file). A file merely gone changes nothing."""
    touched = {item.export_id for item in diff.new}
    for row, item in diff.changed:
        touched |= {row.export_webadmit_id, item.export_id}
    return touched


def supersede(identity_id: int, export_ids: Iterable[int], seq: int, kind: Kind = Kind.EXPORT) -> int:
    """Points every run of these exports that did not end well (failed, empty, or never finished) at the nearest
    later run of the same export that did (Available or Success With Errors), and clears the pointer of the others.
    Of `kind`: a template's batches supersede each other in the same way, never an export's runs.

    Later means a higher WebAdMIT id: WebAdMIT numbers runs as they start, whereas our first sighting of a run
    can come after a newer one's (an older failure first listed late is superseded at once). Runs the pointer
    changed for are stamped with `seq`, so open pages re-render them. Call inside the writing transaction;
    reads one indexed range per export and writes only what changed. Returns how many runs changed.
    """
    export_ids = set(export_ids)
    if not export_ids:
        return 0
    runs = (
        ExportFile.objects.filter(identity_id=identity_id, kind=kind, export_webadmit_id__in=export_ids)
        .order_by("export_webadmit_id", "-webadmit_id")
        .values_list("pk", "export_webadmit_id", "status", "superseded_by_id")
    )
    good = {status.value for status in DOWNLOADABLE}
    moves: dict[int | None, list[int]] = defaultdict(list)
    export_id: int | None = None
    nearest_good: int | None = None
    for pk, run_export_id, status, current in runs:
        if run_export_id != export_id:
            export_id, nearest_good = run_export_id, None
        wanted: int | None = None if status in good else nearest_good
        if wanted != current:
            moves[wanted].append(pk)
        if status in good:
            nearest_good = pk
    for target, pks in moves.items():
        ExportFile.objects.filter(pk__in=pks).update(superseded_by_id=target, change_seq=seq)
    return sum(len(pks) for pks in moves.values())


def record_started_run(identity: UserIdentity, run: types.ExportFile, now: datetime, kind: Kind = Kind.EXPORT) -> int:
    """Stores a run that Run again just started (E4's answer, or P3's batch as pdf_batches reads it), so that it
    shows at once rather than on the next refresh; returns its row's pk. The next listing then finds it and carries
    on from there. A run already stored (a refresh listed it first, or WebAdMIT answered with a run already under
    way) is left as it is."""
    run = incoming.export_file(run)
    runs = ExportFile.objects.filter(identity=identity, kind=kind, webadmit_id=run.id)
    existing = runs.values_list("pk", flat=True).first()
    if existing is not None:
        return existing
    plan = ListingPlan(
        identity, [run], _Diff(new=[run]), running=not run.status.is_finished, unknown_export_ids=frozenset(), kind=kind
    )
    try:
        # Not apply_plan: its retry re-plans the listing, and a listing of this one run would mark every other
        # file gone.
        _write(plan, now)
    except IntegrityError:
        logger.info("A refresh stored run %s of identity %s first", run.id, identity.pk)
    return runs.values_list("pk", flat=True).get()


def _stored_rows(identity: UserIdentity, kind: Kind) -> list[_Row]:
    columns = ("pk", "webadmit_id", "export_webadmit_id", "export_id", "href", "status", "raw_status", "gone_at")
    rows = ExportFile.objects.filter(identity=identity, kind=kind).values_list(*columns)
    return [_Row(*values) for values in rows]


def _unnamed(row: _Row | None, item: types.ExportFile) -> bool:
    """A stored file no Export names yet (new files are checked against the Export table separately)."""
    return row is not None and (row.export_id is None or row.export_webadmit_id != item.export_id)


def _diff(rows: dict[int, _Row], listed: dict[int, types.ExportFile]) -> _Diff:
    diff = _Diff()
    for file_id, item in listed.items():
        row = rows.get(file_id)
        if row is None:
            diff.new.append(item)
        elif (row.status, row.raw_status, row.href, row.export_webadmit_id, row.gone_at) != (
            item.status.value,
            item.raw_status,
            item.href,
            item.export_id,
            None,
        ):
            diff.changed.append((row, item))
    diff.gone = [row for file_id, row in rows.items() if file_id not in listed and row.gone_at is None]
    return diff


def _is_transition(old_status: str, old_raw: str, item: types.ExportFile) -> bool:
    """A new status, or a new text for a status we cannot name; a mere change of spelling is not a transition."""
    if old_status != item.status.value:
        return True
    return item.status is FileStatus.UNKNOWN and old_raw != item.raw_status


def _export_pks(identity: UserIdentity, export_ids: set[int], kind: Kind) -> dict[int, int]:
    if not export_ids:
        return {}
    found = Export.objects.filter(identity=identity, kind=kind, webadmit_id__in=export_ids)
    return dict(found.values_list("webadmit_id", "pk"))


def _update(changed: list[tuple[_Row, types.ExportFile]], seq: int, now: datetime) -> tuple[int, int]:
    """Updates each changed file only if it still holds the state the diff saw; returns (transitions, updated)."""
    history: list[StatusChange] = []
    updated = 0
    for row, item in changed:
        fields: dict[str, object] = {
            "status": item.status.value,
            "raw_status": item.raw_status,
            "href": item.href,
            "export_webadmit_id": item.export_id,
            "gone_at": None,
            "change_seq": seq,
        }
        transition = _is_transition(row.status, row.raw_status, item)
        if transition:
            fields["status_changed_at"] = now
        if item.export_id != row.export_webadmit_id:
            fields["export"] = None  # the link is re-made from E3 for the new export id
        # The condition is what makes a racing or repeated apply harmless: only one of them matches.
        won = ExportFile.objects.filter(
            pk=row.pk, status=row.status, raw_status=row.raw_status, gone_at=row.gone_at
        ).update(**fields)
        if not won:
            continue
        updated += 1
        if transition:
            history.append(
                StatusChange(
                    export_file_id=row.pk,
                    old_status=row.status,
                    new_status=item.status.value,
                    raw_status=item.raw_status,
                    changed_at=now,
                )
            )
    StatusChange.objects.bulk_create(history)
    return len(history), updated - len(history)


def _mark_gone(rows: list[_Row], seq: int, now: datetime) -> int:
    if not rows:
        return 0
    # A listing asked for at `now` cannot speak for a file first seen after it: a run that Run again stored while
    # this refresh was under way (record_started_run) is not gone, only newer than the listing.
    return ExportFile.objects.filter(
        pk__in=[row.pk for row in rows], gone_at__isnull=True, first_seen_at__lte=now
    ).update(gone_at=now, change_seq=seq)


def apply_exports(identity: UserIdentity, exports: Iterable[types.Export], now: datetime) -> ExportsResult:
    """Stores one E3 answer: new exports created, renamed or re-formatted ones updated, and files whose export
    was unknown linked to it, so every file can show a name. Exports WebAdMIT stops listing are kept, because
    older files still point at them.
    """
    listed = {export.id: incoming.export_fields(export) for export in exports}
    return _apply_definitions(identity, Kind.EXPORT, listed, now, exports_synced_at=now, exports_checked_at=now)


def apply_templates(
    identity: UserIdentity, templates: Iterable[types.PdfManagerTemplate], now: datetime
) -> ExportsResult:
    """Stores one P1 answer as apply_exports stores E3's: PDF Manager templates as Export rows of kind PDF_BATCH
    (name, list name, document source title), and batches whose template was unknown linked to them."""
    listed = {template.id: incoming.template_fields(template) for template in templates}
    return _apply_definitions(identity, Kind.PDF_BATCH, listed, now, templates_checked_at=now)


def _apply_definitions(
    identity: UserIdentity, kind: Kind, listed: dict[int, dict[str, str]], now: datetime, **checked: datetime
) -> ExportsResult:
    """Exports (or templates) of `kind` in line with one listing of their fields by WebAdMIT id, the runs (batches)
    they name linked and re-rendered, and the identity stamped with `checked` (when it last asked)."""
    stored = {export.webadmit_id: export for export in Export.objects.filter(identity=identity, kind=kind)}
    new = [
        Export(identity=identity, kind=kind, webadmit_id=export_id, last_seen_at=now, **fields)
        for export_id, fields in listed.items()
        if export_id not in stored
    ]
    changed = [
        (stored[export_id], fields)
        for export_id, fields in listed.items()
        if export_id in stored and any(getattr(stored[export_id], name) != value for name, value in fields.items())
    ]
    with transaction.atomic():
        Export.objects.bulk_create(new)
        for export, fields in changed:
            for name, value in fields.items():
                setattr(export, name, value)
            export.save(update_fields=list(fields))
        still_listed = [export_id for export_id in listed if export_id in stored]
        if still_listed:
            Export.objects.filter(identity=identity, kind=kind, webadmit_id__in=still_listed).update(last_seen_at=now)
        seq = _link_and_mark_renamed(identity, kind, list(listed), [export for export, _ in changed])
        identity_fields: dict[str, object] = dict(checked)
        if seq is not None:
            identity_fields["change_seq"] = seq
        UserIdentity.objects.filter(pk=identity.pk).update(**identity_fields)
    for column, stamp in identity_fields.items():
        setattr(identity, column, stamp)
    return ExportsResult(created=len(new), renamed=len(changed))


def _link_and_mark_renamed(
    identity: UserIdentity, kind: Kind, listed_ids: list[int], renamed: list[Export]
) -> int | None:
    """Links files whose export was unknown and marks the files of renamed exports changed; returns the
    sequence number used, None when no file changed. New exports alone change nothing a page shows."""
    unlinked = ExportFile.objects.filter(
        identity=identity, kind=kind, export__isnull=True, export_webadmit_id__in=listed_ids
    )
    if not renamed and not unlinked.exists():
        return None
    seq = ChangeCounter.next_value()
    export_pk = Export.objects.filter(identity=identity, kind=kind, webadmit_id=OuterRef("export_webadmit_id"))
    unlinked.update(export=Subquery(export_pk.values("pk")[:1]), change_seq=seq)
    if renamed:
        ExportFile.objects.filter(export__in=renamed).update(change_seq=seq)
    return seq


@dataclass(frozen=True)
class PruneResult:
    status_changes: int
    gone_files: int


def prune_history(now: datetime, *, keep: timedelta, batch_size: int = 1000) -> PruneResult:
    """Deletes status changes and gone files older than `keep`, a batch per transaction, so that a large backlog
    never holds one long write lock over the tables the refreshes write to."""
    cutoff = now - keep
    changes = _delete_in_batches(StatusChange.objects.filter(changed_at__lt=cutoff), batch_size)
    files = _delete_in_batches(ExportFile.objects.filter(gone_at__lt=cutoff), batch_size)
    return PruneResult(status_changes=changes, gone_files=files)


def _delete_in_batches(queryset: QuerySet[Any], batch_size: int) -> int:
    model = queryset.model
    deleted = 0
    while batch := list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            _, per_model = model.objects.filter(pk__in=batch).delete()  # cascades count separately
        deleted += per_model.get(model._meta.label, 0)
    return deleted
