"""What the Recent Files page is about: the files the user's identities and filters select, and their counts.

`scope` turns a request into the identities the user may see and the files its filters keep; `counts` says how
many of those there are per status and state (core.states: handled files apart); `FileRow` is one of them as the
table shows it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models import BigIntegerField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from webadmit_dash.collection.models import CollectedFile, FileDelivery
from webadmit_dash.core import access, states, stuck
from webadmit_dash.core.models import BatchZip, ExportFile, Kind, RunRequest, UserIdentity
from webadmit_dash.core.states import FileState
from webadmit_dash.shared.http import AuthenticatedHttpRequest
from webadmit_dash.shared.templatetags.display import clock_time, status_badge, time_ago, time_lasting, time_stamp
from webadmit_dash.web import common, params, row_markup, row_notes, sorting
from webadmit_dash.web.common import IdentityRow
from webadmit_dash.web.filters import DELIVERY_FAILED, HANDLED, SUPERSEDED, FileFilters, expand_groups
from webadmit_dash.web.query_hints import Unindexed
from webadmit_dash.web.search import files_of_identities_matching
from webadmit_dash.webadmit.statuses import DOWNLOADABLE, RUNNING, FileStatus

# Up to this many identities, their files are few enough to fetch by identity and sort (see scope).
FEW_IDENTITIES = 20
# Per-identity counts are keyed by version and never stale; the timeout only bounds what a prune (which deletes
# expired files without a new version) can leave behind in the "include expired" counts.
COUNTS_CACHE_SECONDS = 600
# The counts per status and state (core.states) are keyed f"{STATE_IN}{state}:{status}": the one definition, counted
# by the database, so no surface adds up its own.
STATE_IN = "state:"
# Per status, the files a destination refused for good (keyed f"{DELIVERY_FAILED}:{status}"): their chip's count is
# the sum, and a list of that chip and a status chip counts each file once.
_DELIVERY_FAILED_IN = DELIVERY_FAILED + ":"


@dataclass
class Scope:
    """The identities a user may see and the files the page's filters select among them."""

    identities: list[IdentityRow]
    identity_ids: list[int]  # the visible identities the filters keep
    filters: FileFilters
    files: QuerySet[ExportFile]  # every filter but status: what the summary counts
    listed: QuerySet[ExportFile]  # with the status filter: what the table lists
    order: sorting.Order = sorting.DEFAULT  # the order it is listed in (the URL's `sort`)

    @property
    def version(self) -> int:
        return max((identity.change_seq for identity in self.identities), default=0)

    def rows(
        self,
        files: Iterable[ExportFile],
        now: datetime,
        stale: Mapping[int, datetime] | None = None,
        *,
        new_since: datetime | None = None,
    ) -> list[FileRow]:
        """Table rows, each with its identity from the list already loaded (no join, no query per row); `stale`
        maps the identities whose files are out of date to since when (freshness.survey); files first seen after
        `new_since` are marked New (web/visits.py)."""
        by_id = {identity.pk: identity for identity in self.identities}
        stale = stale or {}
        urls = RowUrls.current()
        files = list(files)
        # Stuck thresholds for the page's long-running files: one query, none when there are none or all are cached.
        thresholds = self._stuck_thresholds({stuck.key_of(f) for f in files if stuck.may_be_stuck(f, now)})
        called = callbacks_of(files)
        notes = row_notes.notes_for(files)
        zips = zip_parts_of(files)
        return [
            FileRow.of(
                export_file,
                by_id[export_file.identity_id],
                now,
                stale.get(export_file.identity_id),
                urls,
                thresholds.get(stuck.key_of(export_file)),
                called.get(export_file.pk),
                new_since,
                notes.get(export_file.pk, row_notes.NO_NOTES),
                zips.get(export_file.pk, 0),
            )
            for export_file in files
        ]

    def _stuck_thresholds(self, keys: set[stuck.ExportKey]) -> dict[stuck.ExportKey, timedelta]:
        return stuck.cached_thresholds(keys, {identity.pk: identity.change_seq for identity in self.identities})


def zip_parts_of(files: Iterable[ExportFile]) -> dict[int, int]:
    """How many zips each of these batches has (BatchZip), by file: one query, none without a downloadable batch."""
    pks = [each.pk for each in files if each.is_batch and each.status_enum.is_downloadable]
    if not pks:
        return {}
    return dict(BatchZip.objects.filter(export_file_id__in=pks).values_list("export_file_id", "parts").distinct())


@dataclass(frozen=True)
class Callback:
    """A run started here whose start asked WebAdMIT to call back (WEBADMIT_CALLBACKS), and when it first did."""

    received_at: datetime | None


def callbacks_of(files: Iterable[ExportFile]) -> dict[int, Callback]:
    """The callbacks of these files' runs, by file: one query for a page or a poll's rows, rather than a subquery
    per row, which SQLite would evaluate for every file it sorts, not only the fifty shown. None without rows, nor
    while WEBADMIT_CALLBACKS is off (the default): runs started while it was on then lose their mark on the list
    (their file page keeps it, see callbacks_of_runs), and the pages keep the query count they had."""
    pks = [export_file.pk for export_file in files]
    if not pks or not settings.WEBADMIT_CALLBACKS:
        return {}
    return callbacks_of_runs(pks)


def callbacks_of_runs(pks: list[int]) -> dict[int, Callback]:
    """The callbacks of the runs stored as these files, by file, whatever WEBADMIT_CALLBACKS says now."""
    found: dict[int, Callback] = {}
    asked = RunRequest.objects.filter(run_id__in=pks, callback_token__isnull=False).order_by("created_at")
    for run_id, received_at in asked.values_list("run_id", "callback_received_at"):
        # A run started twice (the second start found it running) was given two tokens: either call counts.
        earlier = found.get(run_id)
        if earlier is None or earlier.received_at is None:
            found[run_id] = Callback(received_at)
    return found


def describe_callback(callback: Callback | None, running: bool, now: datetime) -> SafeString:
    """ "WebAdMIT will call back" while a run that asked for it runs, "WebAdMIT called back 10:42:05" once it did;
    nothing for runs not started here with a callback, or finished without one (the refresh saw it first)."""
    if callback is None:
        return SafeString("")
    if callback.received_at is not None:
        return format_html("WebAdMIT called back {}", clock_time(callback.received_at, now, seconds=True))
    return SafeString("WebAdMIT will call back") if running else SafeString("")


@dataclass(frozen=True)
class RowUrls:
    """A file's addresses as patterns, reversed once per page rather than four times per row."""

    download: str
    run_again: str
    file: str
    acknowledge: str
    export: str
    zip: str  # two slots: the batch's pk, the zip's part

    @classmethod
    def current(cls) -> RowUrls:
        # Reversed with a stand-in id, which is then the pattern's slot (the script prefix can differ per request).
        marker = str(2**62)
        names = ("download_file", "run_again", "file_detail", "acknowledge_file", "schedules:export")
        download, run_again, file, acknowledge, export = (
            reverse(name, args=[marker]).replace(marker, "{}") for name in names
        )
        zip_pattern = reverse("download_zip", args=[marker, marker]).replace(marker, "{}")
        return cls(download, run_again, file, acknowledge, export, zip_pattern)


# What a row offers for its file: its download, or why there is none (the template words each).
RowAction = Literal["download", "zips_pending", "gone", "empty", "failed", "unknown", "running"]
# What collection did with it, as a small mark: a destination refused it for good, or (none did and) one has it.
Handover = Literal["delivered", "delivery-failed", ""]
# Why a row is shown muted and sorted with the settled files, if it is: a later run replaced it, or a person
# acknowledged its failure.
Settled = Literal["superseded", "acknowledged", ""]


@dataclass(frozen=True)
class FileRow:
    """One row of the files table, with what it shows decided here: the template only lays it out.

    A page and a poll render up to fifty rows; resolving the same decisions in template tags and filters for
    each row cost twice as much as the whole rest of the page.
    """

    pk: int
    webadmit_id: int
    name: str  # "Weekly roster", or a batch's "PDF · Transcripts" (ExportFile.title)
    format: str  # the export's format, or a batch's "Accepted Offers for Review · PDF" (its template's list)
    identity: str
    cycle: str
    identity_title: str  # "Nursing · 2026 - 2027": the identity's whole name (IdentityNames.display_name)
    label: str  # "Weekly roster (Nursing · 2026 - 2027)": the run named for a screen reader or a dialog
    words: str  # "Weekly roster, file 4412": the file named for a screen reader
    status: FileStatus
    badge: SafeString
    since: SafeString  # "for 12 min" while unfinished ("for" is the template's), else "3 days ago"
    first_seen: SafeString
    running: bool
    gone: bool
    action: RowAction
    download_url: str
    run_again_url: str  # finished runs only: starting an unfinished one again returns the same run
    file_url: str
    # "superseded" or "acknowledged": shown muted, sorted with the settled files; "" otherwise.
    settled: Settled
    rerun: SafeString  # superseded: 're-run → Available 10:42', linking to the run that did it
    acknowledged: SafeString  # "acknowledged by alice 10:40"
    acknowledge_url: str  # failed runs not superseded: acknowledge (or take the acknowledgement back)
    as_of: SafeString  # "14:05" when the identity's files are stale (see freshness.stale_since)
    stuck: SafeString | str  # "42 min" (running that long, far past its export's usual time), else ""
    callback: SafeString  # "WebAdMIT will call back" / "WebAdMIT called back 10:42:05" (see describe_callback)
    handover: Handover = ""
    archived: bool = False  # served from the archive: Download works after WebAdMIT forgot the file
    new: bool = False  # first seen since the user last looked at the list (web/visits.py)
    export_url: str = ""  # the export's history page, once WebAdMIT named the export
    downloaded: SafeString | str = ""  # "downloaded by Maria 09:02" (web/row_notes.py)
    newer_run: SafeString | str = ""  # failed: "a newer run is going: started 09:40" (web/row_notes.py)
    kind: Kind = Kind.EXPORT
    zip_urls: tuple[str, ...] = ()  # a batch's zips, part 1 first, once the engine has read them (P5)

    @property
    def zip_menu(self) -> SafeString | str:
        return row_markup.zip_menu(self)

    @property
    def select_cell(self) -> SafeString:
        return row_markup.select_cell(self)

    @property
    def status_cell(self) -> SafeString:
        return row_markup.status_cell(self)

    @property
    def format_line(self) -> SafeString | str:
        return row_markup.format_line(self)

    @property
    def identity_cell(self) -> SafeString:
        return row_markup.identity_cell(self)

    @property
    def classes(self) -> str:
        return row_markup.classes(self)

    @classmethod
    def of(
        cls,
        export_file: ExportFile,
        identity: IdentityRow,
        now: datetime,
        stale_since: datetime | None = None,
        urls: RowUrls | None = None,
        stuck_after: timedelta | None = None,
        callback: Callback | None = None,
        new_since: datetime | None = None,
        notes: row_notes.Notes = row_notes.NO_NOTES,
        zip_parts: int = 0,
    ) -> FileRow:
        urls = urls or RowUrls.current()
        status = export_file.status_enum
        annotated = vars(export_file)
        archived = bool(annotated.get("archived", False))
        action: RowAction
        if archived and status.is_downloadable:
            action = "download"
        elif export_file.gone_at:
            action = "gone"
        elif status.is_downloadable and export_file.is_batch and not zip_parts:
            action = "zips_pending"  # ready, and the engine's next refresh reads its zips (P5)
        elif status.is_downloadable:
            action = "download"
        else:
            action = _ACTIONS.get(status, "running")
        changed = export_file.status_changed_at
        rerun = _rerun(export_file, now, urls) if export_file.superseded_by_id else SafeString("")
        acknowledged = (
            _acknowledged(export_file, now)
            if export_file.acknowledged_at and status is FileStatus.FAILED
            else SafeString("")
        )
        pk = export_file.pk
        # Muted and sorted with the settled files when handled (core.states), as the chips count it.
        state = states.state_of(export_file)
        settled: Settled = (
            "superseded" if state is FileState.SUPERSEDED else "acknowledged" if state is FileState.ACKNOWLEDGED else ""
        )
        name = export_file.title
        identity_title = identity.display_name
        return cls(
            pk=export_file.pk,
            webadmit_id=export_file.webadmit_id,
            name=name,
            format=format_words(export_file),
            identity=identity.title,
            cycle=identity.cycle,
            identity_title=identity_title,
            label=run_label(name, identity_title),
            words=f"{name}, file {export_file.webadmit_id}",
            status=status,
            badge=status_badge(status, export_file.raw_status),
            since=time_ago(changed, now) if status.is_finished else time_lasting(changed, now),
            first_seen=time_stamp(export_file.first_seen_at, now),
            running=not status.is_finished,
            gone=export_file.gone_at is not None,
            action=action,
            download_url=urls.download.format(pk) if action == "download" else "",
            # A superseded run has a later one that ended well: that one is worth running again, not this one.
            run_again_url=urls.run_again.format(pk) if status.is_finished and not rerun else "",
            file_url=urls.file.format(pk),
            settled=settled,
            rerun=rerun,
            acknowledged=acknowledged,
            acknowledge_url=urls.acknowledge.format(pk) if status is FileStatus.FAILED and not rerun else "",
            as_of=clock_time(stale_since, now) if stale_since else SafeString(""),
            # A run a later one has superseded is over, whatever it still says: no "stuck" mark on it.
            stuck="" if rerun else _stuck_mark(export_file, stuck_after, now),
            callback=describe_callback(callback, not status.is_finished, now),
            handover=handover(export_file),
            archived=archived,
            new=new_since is not None and export_file.first_seen_at > new_since,
            export_url=urls.export.format(export_file.export_id) if export_file.export_id else "",
            downloaded=row_notes.downloaded(notes, now),
            newer_run=row_notes.newer_run(notes, now, urls.file),
            kind=export_file.kind_enum,
            zip_urls=_zip_urls(urls, pk, zip_parts if action == "download" else 0),
        )


def _zip_urls(urls: RowUrls, pk: int, parts: int) -> tuple[str, ...]:
    return tuple(urls.zip.format(pk, part) for part in range(1, parts + 1))


def format_words(export_file: ExportFile) -> str:
    """What a row says under its name: the export's format ("CSV"), or for a batch its template's list and the kind's
    word ("Accepted Offers for Review · PDF")."""
    export = export_file.export
    if not export_file.is_batch:
        return export.format if export else ""
    short = export_file.kind_enum.short
    return f"{export.list_name} · {short}" if export and export.list_name else short


def run_label(name: str, identity_title: str) -> str:
    """ "Weekly roster (Nursing · 2026 - 2027)": a run as Run again's button and dialog name it, on the list and on
    the file page."""
    return f"{name} ({identity_title})"


def handover(export_file: ExportFile) -> Handover:
    """A failed delivery outweighs the others: it is what needs attention (core's NEEDS_ATTENTION)."""
    if export_file.delivery_failed_at is not None:
        return "delivery-failed"
    return "delivered" if vars(export_file).get("delivered") else ""


def _stuck_mark(export_file: ExportFile, threshold: timedelta | None, now: datetime) -> SafeString | str:
    running = stuck.stuck_for(export_file, threshold, now)
    if running is None or threshold is None:
        return ""
    return time_lasting(export_file.first_seen_at, now)


_ACTIONS: dict[FileStatus, RowAction] = {
    FileStatus.EMPTY_LIST: "empty",
    FileStatus.FAILED: "failed",
    FileStatus.UNKNOWN: "unknown",
}


def _rerun(export_file: ExportFile, now: datetime, urls: RowUrls) -> SafeString:
    """ "re-run → Available 10:42": the later run that supersedes a file, read from the columns for_rows() joins
    in (or from the relation, for a file loaded otherwise)."""
    annotated = vars(export_file)
    if "rerun_status" in annotated:
        status, changed_at = annotated["rerun_status"], annotated["rerun_changed_at"]
    else:
        later = export_file.superseded_by
        if later is None:
            return SafeString("")
        status, changed_at = later.status, later.status_changed_at
    if status is None:
        return SafeString("")  # the later run was pruned since the row was read
    return format_html(
        're-run → <a href="{}">{} {}</a>',
        urls.file.format(export_file.superseded_by_id),
        FileStatus(status).label,
        clock_time(changed_at, now),
    )


def _acknowledged(export_file: ExportFile, now: datetime) -> SafeString:
    annotated = vars(export_file)
    if "acknowledged_name" in annotated:
        who = annotated["acknowledged_name"]
    else:
        who = export_file.acknowledged_by.get_username() if export_file.acknowledged_by else None
    assert export_file.acknowledged_at is not None
    return format_html("acknowledged by {} {}", who or "someone", clock_time(export_file.acknowledged_at, now))


def scope(request: AuthenticatedHttpRequest) -> Scope:
    """The Recent Files page's scope for this request (its user and its query's filters)."""
    return scope_for(request.user, request.GET)


def scope_for(user: User, query: QueryDict) -> Scope:
    """The identities `user` may see and the files the filters in `query` select among them; no page needed."""
    identities = common.identities(user)
    filters = FileFilters.parse(query, identities)
    scope_ids = filters.identity_ids(identities)
    files = _current(ExportFile.objects.all(), filters.expired)
    # Every visible identity (the usual view) is said as a subquery when they are many: an IN list of 500 ids
    # costs milliseconds of ORM work to build, on every page view and poll; a few ids cost less than the subquery.
    in_scope: list[int] | QuerySet[UserIdentity, Any] = (
        scope_ids
        if filters.scoped or len(scope_ids) <= FEW_IDENTITIES
        else access.visible_identities(user).values("pk")
    )
    if len(scope_ids) <= FEW_IDENTITIES:
        files = files.filter(identity_id__in=in_scope)
    else:
        # Many identities mean most rows qualify. Given a plain IN, SQLite (which Django never gives ANALYZE
        # statistics) fetches every row by identity and sorts them all to show 50; `+ 0` keeps the identity
        # index out of it, so the dashboard-order index is read from the top and stops after a page.
        in_scope_column = ExpressionWrapper(F("identity_id") + 0, output_field=BigIntegerField())
        files = files.alias(scope_identity=in_scope_column).filter(scope_identity__in=in_scope)
    if filters.kind:
        files = files.filter(kind=filters.kind)
    if filters.q:
        search = Q(export__name__icontains=filters.q)
        file_id = params.whole_number(filters.q, None, minimum=0)
        if file_id is not None:
            search |= Q(webadmit_id=file_id)
        # An identity's name, CAS or cycle: matched in memory (web/search.py), no query and no join of its own.
        if (by_identity := files_of_identities_matching(filters.q, identities)) is not None:
            search |= by_identity
        files = files.filter(search)
    order = sorting.order(filters.sort, identities)
    listed = files
    if filters.seen.active:
        now, zone = timezone.now(), timezone.get_current_timezone()
        files = files.filter(filters.seen.condition(now, zone))
        if order.indexed:
            # The page's rows in an order with an index of its own: read down it, passing over files out of the
            # range, for the range's own index would have SQLite sort the whole range (query_hints.Unindexed). The
            # counts (`files`) read the range by its index: they look at every file of it anyway.
            listed = listed.alias(seen_at=Unindexed("first_seen_at")).filter(
                filters.seen.condition(now, zone, column="seen_at")
            )
        else:
            listed = files
    if filters.statuses:
        listed = listed.filter(_status_condition(filters.statuses), attention_rank__in=_ranks(filters.statuses))
    if filters.states:
        listed = listed.filter(states.condition(filters.states), attention_rank__in=states.ranks(filters.states))
    return Scope(identities, scope_ids, filters, files, order.prepare(for_rows(listed)), order)


def for_rows(files: QuerySet[ExportFile]) -> QuerySet[ExportFile]:
    """What a FileRow reads besides the file, joined in so that no row costs a query of its own: the export, and
    four columns (not whole rows, whose model instances would cost more than the join) of the run superseding it
    and of whoever acknowledged it; and whether collection archived and delivered it (two indexed lookups by the
    file, for the rows shown only). row_notes' "downloaded by" and "a newer run is going" are read after the rows
    (Scope.rows)."""
    return files.select_related("export").annotate(
        rerun_status=F("superseded_by__status"),
        rerun_changed_at=F("superseded_by__status_changed_at"),
        rerun_webadmit_id=F("superseded_by__webadmit_id"),
        acknowledged_name=F("acknowledged_by__username"),
        archived=Exists(
            CollectedFile.objects.filter(export_file=OuterRef("pk"), state=CollectedFile.State.COLLECTED).exclude(
                storage_name=""
            )
        ),
        # By the file's collected pieces, then their deliveries: given the state as an indexed term, SQLite walked
        # every delivered handover for each row (query_hints.Unindexed).
        delivered=Exists(
            FileDelivery.objects.alias(delivery_state=Unindexed("state")).filter(
                collected__export_file=OuterRef("pk"), delivery_state=FileDelivery.State.DELIVERED
            )
        ),
    )


def _status_condition(statuses: Iterable[str]) -> Q:
    """A status chip lists the files it counts: its status's, handled ones apart (core.states: the Handled chip
    counts them); the Delivery failed chip those a destination refused, whatever their status."""
    statuses = expand_groups(list(statuses))
    condition = Q(pk__in=[])
    plain = statuses - {SUPERSEDED, HANDLED, DELIVERY_FAILED}
    if plain:
        condition |= Q(status__in=sorted(plain)) & states.condition(_UNHANDLED)
    if HANDLED in statuses:
        condition |= states.condition([HANDLED])
    elif SUPERSEDED in statuses:
        condition |= states.CONDITIONS[FileState.SUPERSEDED]
    if DELIVERY_FAILED in statuses:
        condition |= Q(delivery_failed_at__isnull=False)
    return condition


# The states a status chip counts (the handled ones are the Handled chip's).
_UNHANDLED = [FileState.NEEDS_ATTENTION, FileState.DONE]


def _ranks(statuses: Iterable[str]) -> list[int]:
    """The attention ranks the chosen chips' files can have (models.NEEDS_ATTENTION): saying so lets the database
    enter the order index at that rank. Failed files the Failed chip counts need attention (handled ones are
    counted apart); ready ones have either (a failed delivery needs attention)."""
    ranks: set[int] = set()
    for status in expand_groups(list(statuses)):
        if status == DELIVERY_FAILED or status == FileStatus.FAILED:
            ranks.add(0)
        elif status in (SUPERSEDED, HANDLED):
            ranks.add(1)
        elif FileStatus(status) in DOWNLOADABLE:
            ranks |= {0, 1}
        else:
            ranks.add(0 if FileStatus(status) in RUNNING else 1)
    return sorted(ranks)


def _current(files: QuerySet[ExportFile], expired: bool) -> QuerySet[ExportFile]:
    return files if expired else files.filter(gone_at__isnull=True)


@dataclass
class Counts:
    """Files per status and state (core.states): each status's chip counts its files but the handled ones, which
    HANDLED counts (and SUPERSEDED those of them a later run replaced); the files a destination refused are counted
    again under DELIVERY_FAILED (and per status, for `listed`)."""

    by_status: dict[str, int]
    by_state: dict[str, int] = field(default_factory=dict)
    delivery_failed_by_status: dict[str, int] = field(default_factory=dict)
    cells: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, state): files

    @classmethod
    def of(cls, tally: dict[str, int]) -> Counts:
        """From a _tally(): {f"{STATE_IN}{state}:{status}": n, f"{DELIVERY_FAILED}:{status}": n}."""
        cells: dict[tuple[str, str], int] = {}
        refused: dict[str, int] = {}
        for key, count in tally.items():
            if key.startswith(_DELIVERY_FAILED_IN):
                refused[key.removeprefix(_DELIVERY_FAILED_IN)] = count
            else:
                state, _, status = key.removeprefix(STATE_IN).partition(":")
                cells[status, state] = count
        by_status: dict[str, int] = defaultdict(int)
        by_state: dict[str, int] = defaultdict(int)
        for (status, state), count in cells.items():
            by_state[state] += count
            if FileState(state) in states.HANDLED_STATES:
                by_status[HANDLED] += count
            else:
                by_status[status] += count
        by_status[SUPERSEDED] = by_state[FileState.SUPERSEDED]
        by_status[DELIVERY_FAILED] = sum(refused.values())
        return cls(by_status, by_state, refused, cells)

    @property
    def total(self) -> int:
        return sum(self.cells.values())

    @property
    def running(self) -> int:
        return sum(self.by_status[status] for status in RUNNING)

    @property
    def failed(self) -> int:
        """Failed and needing attention (core.states): what every surface calls failed."""
        return self.by_status[FileStatus.FAILED]

    @property
    def handled(self) -> int:
        """Superseded or acknowledged: nobody needs to act on them any more."""
        return self.by_status[HANDLED]

    @property
    def delivery_failed(self) -> int:
        """Files a destination refused for good and that were not delivered there since."""
        return self.by_status[DELIVERY_FAILED]

    @property
    def needs_attention(self) -> int:
        """Running, failed (not handled) or refused by a destination: what attention_rank says, not a sum of
        the chips (a file can be in more than one)."""
        return self.by_state[FileState.NEEDS_ATTENTION]

    def listed(self, filters: FileFilters) -> int:
        """How many files the table lists: the cells the status chips keep (any of them) and the state filter
        keeps, plus the refused files the Delivery failed chip adds."""
        chosen = expand_groups(filters.statuses)
        in_states = {state.value for state in states.expand(filters.states)} if filters.states else None
        listed = 0
        for (status, state), count in self.cells.items():
            if in_states is not None and state not in in_states:
                continue
            handled = FileState(state) in states.HANDLED_STATES
            if (
                not chosen
                or (status in chosen and not handled)
                or (HANDLED in chosen and handled)
                or (SUPERSEDED in chosen and state == FileState.SUPERSEDED)
            ):
                listed += count
            elif DELIVERY_FAILED in chosen and state == FileState.NEEDS_ATTENTION:
                # Refused files need attention; those not already counted under a chosen status chip.
                listed += self.delivery_failed_by_status.get(status, 0)
        return listed

    def title(self, base: str, *, stale: bool = False) -> str:
        """ "Stale · 2 running · 1 failed · Recent Files": the tab says what needs attention before it is opened,
        and whether what it shows is out of date."""
        parts = ["Stale"] if stale else []
        if self.running:
            parts.append(f"{self.running} running")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.delivery_failed:
            parts.append(f"{self.delivery_failed} delivery failed")
        return " · ".join([*parts, base])

    @property
    def favicon(self) -> str:
        """The tab's icon says what its title says: a red dot when anything failed (a run or a delivery), else a blue
        one while files run."""
        if self.failed or self.delivery_failed:
            return "failed"
        return "running" if self.running else "settled"


def _tally(rows: Iterable[tuple[Any, ...]]) -> dict[str, int]:
    """{f"{STATE_IN}{state}:{status}": …, "delivery_failed:<status>": …} from (status, total, superseded,
    acknowledged, attention, delivery failed); done is what the other states leave."""
    tally: dict[str, int] = defaultdict(int)
    for status, total, superseded, acknowledged, attention, refused in rows:
        done = total - superseded - acknowledged - attention
        # Only what there is: every key costs each page view an addition per identity.
        for state, count in (
            (FileState.NEEDS_ATTENTION, attention),
            (FileState.SUPERSEDED, superseded),
            (FileState.ACKNOWLEDGED, acknowledged),
            (FileState.DONE, done),
        ):
            if count:
                tally[f"{STATE_IN}{state.value}:{status}"] += count
        if refused:
            tally[_DELIVERY_FAILED_IN + status] += refused
    return tally


# Per status: every file, those in three of the four states (core.states; done is the rest), and the refused ones.
_TALLY = {
    "total": Count("pk"),
    "superseded": Count("pk", filter=states.CONDITIONS[FileState.SUPERSEDED]),
    "acknowledged": Count("pk", filter=states.CONDITIONS[FileState.ACKNOWLEDGED]),
    "attention": Count("pk", filter=states.CONDITIONS[FileState.NEEDS_ATTENTION]),
    "delivery_failed": Count("pk", filter=Q(delivery_failed_at__isnull=False)),
}


def counts(scope: Scope) -> Counts:
    """Files per status for the summary, over every filter but status.

    Counting 100,000 rows on every page view would be the page's largest cost, so without a search the counts
    are kept per identity in the cache with the identity's change sequence: any change to one of its files moves
    the sequence on (superseding and acknowledging included), so an entry is never used stale, and a view
    recounts only the identities changed since.
    """
    by_status: dict[str, int] = defaultdict(int)
    # A search counts its own files (its words are too many to cache under).
    if scope.filters.q:
        return Counts.of(_tally(scope.files.order_by().values_list("status").annotate(**_TALLY)))
    # A date range is counted per identity too, under its bounds: "today" or "last 7 days" keep theirs all day.
    now, zone = timezone.now(), timezone.get_current_timezone()
    span = ",".join(f"{lookup}{moment.timestamp():.6f}" for lookup, moment in scope.filters.seen.bounds(now, zone))
    # One cache entry per identity: {key: (change_seq, counts)} (settings.CACHES has room for every identity).
    # The kind filter is counted per identity too, under its value ("" for both kinds).
    kind = scope.filters.kind
    prefix = f"dashboard:counts:v7:{int(scope.filters.expired)}:{kind}:{span}"
    versions = {identity.pk: identity.change_seq for identity in scope.identities}
    # The sum for these identities at these versions, kept whole: a page view or poll with nothing changed reads one
    # entry, not one per identity (200 of them cost a millisecond to read back); any change makes a new key.
    seen = ";".join(f"{pk}:{versions[pk]}" for pk in scope.identity_ids)
    whole_key = f"{prefix}:all:" + hashlib.blake2s(seen.encode(), digest_size=12).hexdigest()
    whole: dict[str, int] | None = cache.get(whole_key)
    if whole is not None:
        return Counts.of(whole)
    keys = {pk: f"{prefix}:{pk}" for pk in scope.identity_ids}
    cached = cache.get_many(list(keys.values()))
    known: dict[int, tuple[int, dict[str, int]]] = {pk: cached[key] for pk, key in keys.items() if key in cached}
    missing = [pk for pk in scope.identity_ids if known.get(pk, (None,))[0] != versions[pk]]
    if missing:
        per_identity: dict[int, list[tuple[Any, ...]]] = {pk: [] for pk in missing}
        recount = _current(ExportFile.objects.filter(identity_id__in=missing), scope.filters.expired).filter(
            scope.filters.seen.condition(now, zone)
        )
        if kind:
            recount = recount.filter(kind=kind)
        for identity_id, *row in recount.order_by().values_list("identity_id", "status").annotate(**_TALLY):
            per_identity[identity_id].append(tuple(row))
        recounted = {pk: (versions[pk], dict(_tally(rows))) for pk, rows in per_identity.items()}
        cache.set_many({keys[pk]: value for pk, value in recounted.items()}, COUNTS_CACHE_SECONDS)
        known.update(recounted)
    for pk in scope.identity_ids:
        for status, count in known[pk][1].items():
            by_status[status] += count
    cache.set(whole_key, dict(by_status), COUNTS_CACHE_SECONDS)
    return Counts.of(by_status)
