"""PDF Manager batches, followed as export files are: a refresh of an identity that watches them
(`UserIdentity.watch_pdf_batches`) lists its batches (P4) beside its files (E6), and each batch is kept as an
ExportFile row of kind PDF_BATCH whose export is its template (an Export row of that kind). The apply step then does
for batches what it does for files (new ones, transitions and their history, gone ones, superseding, change_seq):
this module only turns what PDF Manager says into what the apply step reads, and reads what only batches have.

- A batch's status is the FileStatus of its state's word (`status_of`); its state's text is kept as sent.
- Templates (P1) are read when a batch names one not known yet, for its list name and document source title, at
  most once a minute (`schedule.templates_due`), like E3's export names: a failed P1 leaves the name missing for now.
- A batch's zips are read (P5) once, when it is first seen downloadable (available or success_with_errors): one
  call per batch, at most ZIP_READS_PER_REFRESH a refresh, the others in the next ones (the identity keeps the fast
  cadence until all are read). A failed P5 loses nothing: the statuses are stored all the same, and the identity
  tries again after the usual backoff (the refresh records the failure).

Like the refresh, `fetch` makes every call before anything is written, and `store` writes inside the refresh's one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from webadmit_dash.core.models import BatchZip, ChangeCounter, ExportFile, Kind, UserIdentity
from webadmit_dash.engine import apply, schedule
from webadmit_dash.webadmit import types
from webadmit_dash.webadmit.batch_states import BatchState
from webadmit_dash.webadmit.client import WebAdmitClient
from webadmit_dash.webadmit.errors import BadResponse, WebAdmitError
from webadmit_dash.webadmit.statuses import FileStatus

# A refresh reads the zips of at most this many batches (one P5 each): the refresh's calls stay bounded (see
# refresh.MOST_CALLS), and an identity's first sweep of many finished batches spreads over its next refreshes.
ZIP_READS_PER_REFRESH = 1

# The same words: a batch's state is stored as the file status it spells, each one named here on purpose.
_STATUS_OF: dict[BatchState, FileStatus] = {
    BatchState.INITIALIZING: FileStatus.INITIALIZING,
    BatchState.QUEUED: FileStatus.QUEUED,
    BatchState.IN_PROGRESS: FileStatus.IN_PROGRESS,
    BatchState.AVAILABLE: FileStatus.AVAILABLE,
    BatchState.SUCCESS_WITH_ERRORS: FileStatus.SUCCESS_WITH_ERRORS,
    BatchState.EMPTY_LIST: FileStatus.EMPTY_LIST,
    BatchState.FAILED: FileStatus.FAILED,
    BatchState.UNKNOWN: FileStatus.UNKNOWN,
}


def status_of(state: BatchState) -> FileStatus:
    """The file status a batch's state is kept as: the same word (a state never seen stays unknown)."""
    return _STATUS_OF[state]


def as_listing(batches: Iterable[types.PdfManagerBatch]) -> list[types.ExportFile]:
    """P4's batches as the apply step reads a listing: the batch id as the file id, its template's as the export's."""
    return [
        types.ExportFile(
            id=batch.id,
            href=batch.href,
            export_id=batch.template.id,
            status=status_of(batch.state),
            raw_status=batch.raw_state,
        )
        for batch in batches
    ]


@dataclass(frozen=True)
class Fetched:
    """What a refresh got from PDF Manager before writing anything: the batches planned against what is stored,
    P1's templates when asked (or why not), and the zips P5 gave, by batch id (or why one failed)."""

    plan: apply.ListingPlan
    templates: list[types.PdfManagerTemplate] | None = None
    templates_error: WebAdmitError | None = None
    zips: dict[int, tuple[int, ...]] = field(default_factory=dict)
    zips_error: WebAdmitError | None = None
    zips_pending: bool = False  # batches whose zips are still to be read after this refresh

    @property
    def running(self) -> bool:
        """Whether the identity should stay on the fast cadence for its batches: one runs, or zips wait."""
        return self.plan.running or self.zips_pending

    @property
    def changes_anything(self) -> bool:
        return self.plan.changes_anything or self.templates is not None or bool(self.zips)


def fetch(client: WebAdmitClient, identity: UserIdentity, now: datetime) -> Fetched:
    """P4, planned against the stored batches; then P1 when a batch names an unknown template, and P5 for the
    batches whose zips are not read yet. A failed P4 raises (the refresh fails as a failed E6 does); P1 and P5 fail
    softly, into the answer."""
    plan = apply.plan_listing(
        identity, as_listing(client.list_pdf_manager_batches(identity.webadmit_id)), Kind.PDF_BATCH
    )
    templates: list[types.PdfManagerTemplate] | None = None
    templates_error: WebAdmitError | None = None
    if schedule.templates_due(identity, plan.unknown_export_ids, now):
        try:
            templates = client.list_pdf_manager_templates(identity.webadmit_id)
        except WebAdmitError as error:
            templates_error = error
    wanted = _zips_wanted(identity, plan)
    zips: dict[int, tuple[int, ...]] = {}
    zips_error: WebAdmitError | None = None
    for batch_id in wanted[:ZIP_READS_PER_REFRESH]:
        try:
            batch = client.get_pdf_manager_batch(identity.webadmit_id, batch_id)
        except WebAdmitError as error:
            zips_error = error
            break
        if not batch.zip_file_ids:
            zips_error = BadResponse(
                f"WebAdMIT lists PDF Manager batch {batch_id} as ready but named none of its zips (its own answer "
                f"says '{batch.raw_state}', credential '{client.credential_name}'). Will try again later."
            )
            break
        zips[batch_id] = batch.zip_file_ids
    return Fetched(plan, templates, templates_error, zips, zips_error, zips_pending=len(wanted) > len(zips))


def _zips_wanted(identity: UserIdentity, plan: apply.ListingPlan) -> list[int]:
    """The listed downloadable batches whose zips are not stored yet, newest first."""
    ready = {item.id for item in plan.listing if item.status.is_downloadable}
    if not ready:
        return []
    read = BatchZip.objects.filter(
        export_file__identity=identity, export_file__kind=Kind.PDF_BATCH, export_file__webadmit_id__in=ready
    ).values_list("export_file__webadmit_id", flat=True)
    return sorted(ready - set(read), reverse=True)


def store(identity: UserIdentity, fetched: Fetched, now: datetime) -> apply.ApplyResult:
    """Writes what `fetch` found, inside the refresh's transaction: templates first (so new batches link to theirs),
    then the batches through the apply step, then their zips (the batches' rows stamped so open pages show them)."""
    if fetched.templates is not None:
        apply.apply_templates(identity, fetched.templates, now)
    result = apply.apply_plan(fetched.plan, now)
    if not fetched.zips:
        return result
    batches = dict(
        ExportFile.objects.filter(identity=identity, kind=Kind.PDF_BATCH, webadmit_id__in=fetched.zips).values_list(
            "webadmit_id", "pk"
        )
    )
    BatchZip.objects.bulk_create(
        [
            BatchZip(export_file_id=batches[batch_id], zip_webadmit_id=zip_id, part=part, parts=len(zip_ids))
            for batch_id, zip_ids in fetched.zips.items()
            if batch_id in batches
            for part, zip_id in enumerate(zip_ids, start=1)
        ],
        ignore_conflicts=True,  # a racing refresh read them first: the same zips
    )
    seq = result.change_seq or ChangeCounter.next_value()
    ExportFile.objects.filter(pk__in=batches.values()).update(change_seq=seq)
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=seq)
    identity.change_seq = seq
    return replace(result, change_seq=seq)
