"""What the Recent Files page is about: the files the user's identities and filters select, and their counts.

`scope` turns a request into the identities the user may see and the files its filters keep; `counts` says how
many of those there are per status; `FileRow` is one of them as the table shows it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Q, QuerySet
from django.urls import reverse
from django.utils.safestring import SafeString

from webadmit_dash.core import access, stuck
from webadmit_dash.core.models import ATTENTION_STATUSES, ExportFile, UserIdentity
from webadmit_dash.web import common
from webadmit_dash.web.common import AuthenticatedHttpRequest
from webadmit_dash.web.filters import FileFilters
from webadmit_dash.web.templatetags.display import status_badge, time_ago, time_lasting
from webadmit_dash.webadmit.statuses import RUNNING, FileStatus

# Up to this many identities, their files are few enough to fetch by identity and sort (see scope).
FEW_IDENTITIES = 20
# Per-identity counts are keyed by version and never stale; the timeout only bounds what a prune (which deletes
# expired files without a new version) can leave behind in the "include expired" counts.
COUNTS_CACHE_SECONDS = 600


@dataclass
class Scope:
    """The identities a user may see and the files the page's filters select among them."""

    identities: list[UserIdentity]
    identity_ids: list[int]  # the visible identities the filters keep
    filters: FileFilters
    files: QuerySet[ExportFile]  # every filter but status: what the summary counts
    listed: QuerySet[ExportFile]  # with the status filter: what the table lists

    @property
    def version(self) -> int:
        return max((identity.change_seq for identity in self.identities), default=0)

    def rows(self, files: Iterable[ExportFile], now: datetime) -> list[FileRow]:
        """Table rows, each with its identity from the list already loaded (no join, no query per row)."""
        by_id = {identity.pk: identity for identity in self.identities}
        files = list(files)
        # Stuck thresholds in one query for the page's long-running files, none when there are none.
        thresholds = stuck.thresholds({stuck.key_of(f) for f in files if stuck.may_be_stuck(f, now)})
        return [
            FileRow.of(export_file, by_id[export_file.identity_id], now, thresholds.get(stuck.key_of(export_file)))
            for export_file in files
        ]


@dataclass(frozen=True)
class FileRow:
    """One row of the files table, with what it shows decided here: the template only lays it out.

    A page and a poll render up to fifty rows; resolving the same decisions in template tags and filters for
    each row cost twice as much as the whole rest of the page.
    """

    pk: int
    webadmit_id: int
    name: str
    format: str
    identity: str
    cycle: str
    status: FileStatus
    badge: SafeString
    since: SafeString  # "for 12 min" while unfinished ("for" is the template's), else "3 days ago"
    first_seen: SafeString
    running: bool
    gone: bool
    action: str  # download | gone | empty | failed | unknown | running
    download_url: str
    run_again_url: str  # finished runs only: starting an unfinished one again returns the same run
    stuck: SafeString | str  # "42 min" (running that long, far past its export's usual time), else ""

    @classmethod
    def of(
        cls, export_file: ExportFile, identity: UserIdentity, now: datetime, stuck_after: timedelta | None = None
    ) -> FileRow:
        status = export_file.status_enum
        export = export_file.export
        if export_file.gone_at:
            action = "gone"
        elif status.is_downloadable:
            action = "download"
        else:
            action = _ACTIONS.get(status, "running")
        changed = export_file.status_changed_at
        return cls(
            pk=export_file.pk,
            webadmit_id=export_file.webadmit_id,
            name=export.name if export else f"Export {export_file.export_webadmit_id}",
            format=export.format if export else "",
            identity=identity.title,
            cycle=identity.cycle,
            status=status,
            badge=status_badge(status, export_file.raw_status),
            since=time_ago(changed, now) if status.is_finished else time_lasting(changed, now),
            first_seen=time_ago(export_file.first_seen_at, now),
            running=not status.is_finished,
            gone=export_file.gone_at is not None,
            action=action,
            download_url=reverse("download_file", args=[export_file.pk]) if action == "download" else "",
            run_again_url=reverse("run_again", args=[export_file.pk]) if status.is_finished else "",
            stuck=_stuck_mark(export_file, stuck_after, now),
        )


def _stuck_mark(export_file: ExportFile, threshold: timedelta | None, now: datetime) -> SafeString | str:
    running = stuck.stuck_for(export_file, threshold, now)
    if running is None or threshold is None:
        return ""
    return time_lasting(export_file.first_seen_at, now)


_ACTIONS = {FileStatus.EMPTY_LIST: "empty", FileStatus.FAILED: "failed", FileStatus.UNKNOWN: "unknown"}


def scope(request: AuthenticatedHttpRequest) -> Scope:
    identities = common.identities(request.user)
    filters = FileFilters.parse(request.GET, identities)
    scope_ids = filters.identity_ids(identities)
    files = _current(ExportFile.objects.all(), filters.expired)
    # Every visible identity (the usual view) is said as a subquery: an IN list of 500 ids costs milliseconds
    # of ORM work to build, on every page view and poll.
    in_scope: list[int] | QuerySet[UserIdentity, Any] = (
        scope_ids if filters.scoped else access.visible_identities(request.user).values("pk")
    )
    if len(scope_ids) <= FEW_IDENTITIES:
        files = files.filter(identity_id__in=in_scope)
    else:
        # Many identities mean most rows qualify. Given a plain IN, SQLite (which Django never gives ANALYZE
        # statistics) fetches every row by identity and sorts them all to show 50; `+ 0` keeps the identity
        # index out of it, so the dashboard-order index is read from the top and stops after a page.
        in_scope_column = ExpressionWrapper(F("identity_id") + 0, output_field=BigIntegerField())
        files = files.alias(scope_identity=in_scope_column).filter(scope_identity__in=in_scope)
    if filters.q:
        search = Q(export__name__icontains=filters.q)
        if filters.q.isdigit():
            search |= Q(webadmit_id=int(filters.q))
        files = files.filter(search)
    listed = files
    if filters.statuses:
        # The rank follows from the status; saying so lets the database enter the order index at that rank.
        ranks = {0 if status in ATTENTION_STATUSES else 1 for status in filters.statuses}
        listed = files.filter(status__in=filters.statuses, attention_rank__in=ranks)
    return Scope(identities, scope_ids, filters, files, listed.select_related("export"))


def _current(files: QuerySet[ExportFile], expired: bool) -> QuerySet[ExportFile]:
    return files if expired else files.filter(gone_at__isnull=True)


@dataclass
class Counts:
    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def running(self) -> int:
        return sum(self.by_status[status] for status in RUNNING)

    def listed(self, filters: FileFilters) -> int:
        return sum(self.by_status[s] for s in filters.statuses) if filters.statuses else self.total

    def title(self, base: str) -> str:
        """ "2 running · 1 failed · Recent Files": the tab says what needs attention before it is opened."""
        parts = [f"{self.running} running"] if self.running else []
        if self.by_status[FileStatus.FAILED]:
            parts.append(f"{self.by_status[FileStatus.FAILED]} failed")
        return " · ".join([*parts, base])


def counts(scope: Scope) -> Counts:
    """Files per status for the summary, over every filter but status.

    Counting 100,000 rows on every page view would be the page's largest cost, so without a search the counts
    are kept per identity in the cache with the identity's change sequence: any change to one of its files moves
    the sequence on, so an entry is never used stale, and a view recounts only the identities changed since.
    """
    by_status: dict[str, int] = defaultdict(int)
    if scope.filters.q:
        for status, count in scope.files.order_by().values_list("status").annotate(Count("pk")):
            by_status[status] = count
        return Counts(by_status)
    # One cache entry per process-wide map {identity pk: (change_seq, counts)}, not one per identity: the default
    # local-memory cache holds only 300 entries, fewer than the identities of a large installation.
    key = f"dashboard:counts:{int(scope.filters.expired)}"
    known: dict[int, tuple[int, dict[str, int]]] = cache.get(key) or {}
    versions = {identity.pk: identity.change_seq for identity in scope.identities}
    missing = [pk for pk in scope.identity_ids if known.get(pk, (None,))[0] != versions[pk]]
    if missing:
        fresh: dict[int, dict[str, int]] = {pk: {} for pk in missing}
        recount = _current(ExportFile.objects.filter(identity_id__in=missing), scope.filters.expired)
        for identity_id, status, count in recount.order_by().values_list("identity_id", "status").annotate(Count("pk")):
            fresh[identity_id][status] = count
        known = {**known, **{pk: (versions[pk], fresh[pk]) for pk in missing}}
        cache.set(key, known, COUNTS_CACHE_SECONDS)
    for pk in scope.identity_ids:
        for status, count in known[pk][1].items():
            by_status[status] += count
    return Counts(by_status)
