"""What staff see: the Recent Files page and its live poll, downloads, Refresh now / Run again, and preferences.

Every view starts from `access.visible_identities(user)`; a file or identity outside it is a 404, whether it
does not exist or belongs to someone else, so ids cannot be probed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Q, QuerySet
from django.db.models.base import ModelState
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url, trigger_client_event
from django_htmx.middleware import HtmxDetails

from webadmit_dash.dashboard import access, connections, downloads, scheduling
from webadmit_dash.dashboard.forms import FileFilters, PreferencesForm
from webadmit_dash.dashboard.models import (
    ATTENTION_STATUSES,
    Credential,
    ExportFile,
    UserIdentity,
    UserPreference,
)
from webadmit_dash.dashboard.signals import TIME_ZONE_SESSION_KEY
from webadmit_dash.dashboard.templatetags.dashboard import (
    describe_span,
    identity_title,
    status_badge,
    time_ago,
    time_lasting,
)
from webadmit_dash.webadmit.errors import WebAdmitError
from webadmit_dash.webadmit.statuses import UNFINISHED, FileStatus

PAGE_SIZE = 50
# The page polls often while something it shows is unfinished, and keeps polling (slowly) once all is settled:
# a settled list still gains new runs.
FAST_POLL_SECONDS = 3
SLOW_POLL_SECONDS = 30
# Polls re-render at least this often even when nothing changed, so "refreshed N min ago" and the "refreshes
# are late" banner stay honest; in between, an unchanged poll costs no rendering at all.
FRESHNESS_BUCKET_SECONDS = 60
# Identities shown in the freshness strip; the rest are one click away on the Identities page.
SOURCES_SHOWN = 6
# The Identities page's table re-fetches itself by htmx (files/identities.html#identity_table): this is its id,
# which htmx sends as HX-Target, and the event a Refresh now answer raises so that it re-fetches at once.
IDENTITY_TABLE_ID = "identity-table"
IDENTITIES_CHANGED_EVENT = "identities-changed"
# Up to this many identities, their files are few enough to fetch by identity and sort (see _scope).
FEW_IDENTITIES = 20
# Per-identity counts are keyed by version and never stale; the timeout only bounds what a prune (which deletes
# expired files without a new version) can leave behind in the "include expired" counts.
COUNTS_CACHE_SECONDS = 600
# What the pages read of an identity (see _identities); reading any other field would cost a query per identity.
IDENTITY_FIELDS = (
    "credential_id",
    "webadmit_id",
    "association",
    "institution",
    "organization",
    "cycle",
    "label",
    "slow_interval",
    "paused",
    "refresh_queued_at",
    "refreshing_until",
    "last_success_at",
    "error_kind",
    "error_message",
    "change_seq",
)

# The dashboard order (ExportFile.Meta.ordering, served by file_dashboard_order_idx), with the primary key last
# so that keyset pagination has a total order even when two files share a timestamp and a WebAdMIT id.
ORDER = ("attention_rank", "-first_seen_at", "-webadmit_id", "-id")
REVERSE_ORDER = ("-attention_rank", "first_seen_at", "webadmit_id", "id")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


def login_required_htmx(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`login_required`, except that an htmx request from a signed-out browser is sent to the sign-in page.

    htmx follows a plain 302 inside its XMLHttpRequest and would swap the sign-in form into the table; an
    HX-Redirect navigates the whole tab there instead, coming back to the page the user was on.
    """
    protected = login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            return _sign_in_again(request)
        return protected(request, *args, **kwargs)

    return wrapper


def _sign_in_again(request: HttpRequest) -> HttpResponse:
    back_to = request.htmx.current_url_abs_path or reverse("recent_files")
    return HttpResponseClientRedirect(redirect_to_login(back_to).url)


# --- Pagination by keyset --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    """A file's place in the dashboard order; pages continue after (or before) one, at any depth in O(page)."""

    rank: int
    seen: datetime
    webadmit_id: int
    pk: int

    @classmethod
    def of(cls, export_file: ExportFile) -> SortKey:
        return cls(export_file.attention_rank, export_file.first_seen_at, export_file.webadmit_id, export_file.pk)

    def encode(self) -> str:
        micros = (self.seen - EPOCH) // timedelta(microseconds=1)
        return f"{self.rank}.{micros}.{self.webadmit_id}.{self.pk}"

    @classmethod
    def decode(cls, raw: str | None) -> SortKey | None:
        try:
            rank, micros, webadmit_id, pk = (int(part) for part in (raw or "").split("."))
            return cls(rank, EPOCH + timedelta(microseconds=micros), webadmit_id, pk)
        except (ValueError, OverflowError):
            return None

    def after(self) -> Q:
        """Files that come after this key in the dashboard order."""
        later_same_time = Q(webadmit_id__lt=self.webadmit_id) | Q(webadmit_id=self.webadmit_id, pk__lt=self.pk)
        same_rank = Q(first_seen_at__lt=self.seen) | Q(first_seen_at=self.seen) & later_same_time
        return Q(attention_rank__gt=self.rank) | Q(attention_rank=self.rank) & same_rank


def _rows_from(files: QuerySet[ExportFile], key: SortKey | None, *, forward: bool, limit: int) -> list[ExportFile]:
    """Up to `limit` files after `key` (forward) or before it, nearest first.

    Each query is a range scan of the dashboard-order index: within the key's rank, `first_seen_at` bounds the
    range and the residual condition only settles ties; when that rank runs out, the other rank starts from its
    top. An OR over all four columns would make the database walk the index from the very first row instead.
    """
    order = ORDER if forward else REVERSE_ORDER
    if key is None:
        return list(files.order_by(*order)[:limit])
    if forward:
        same_rank = files.filter(attention_rank=key.rank, first_seen_at__lte=key.seen).exclude(
            Q(first_seen_at=key.seen)
            & (Q(webadmit_id__gt=key.webadmit_id) | Q(webadmit_id=key.webadmit_id, pk__gte=key.pk))
        )
        other_ranks = files.filter(attention_rank__gt=key.rank)
    else:
        same_rank = files.filter(attention_rank=key.rank, first_seen_at__gte=key.seen).exclude(
            Q(first_seen_at=key.seen)
            & (Q(webadmit_id__lt=key.webadmit_id) | Q(webadmit_id=key.webadmit_id, pk__lte=key.pk))
        )
        other_ranks = files.filter(attention_rank__lt=key.rank)
    rows = list(same_rank.order_by(*order)[:limit])
    if len(rows) < limit:
        rows += list(other_ranks.order_by(*order)[: limit - len(rows)])
    return rows


@dataclass
class Page:
    rows: list[ExportFile]
    start: int  # 1-based position of the first row, for "51-100 of 2,340" (carried in the URL, display only)
    next_key: SortKey | None
    previous_key: SortKey | None
    is_first: bool

    @property
    def end(self) -> int:
        return self.start + len(self.rows) - 1


def _page(files: QuerySet[ExportFile], params: Any) -> Page:
    after = SortKey.decode(params.get("after"))
    before = None if after else SortKey.decode(params.get("before"))
    start = max(_int(params.get("from"), 1), 1)
    if before is not None:
        rows = _rows_from(files, before, forward=False, limit=PAGE_SIZE + 1)
        has_previous = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        if not has_previous:
            start = 1
        has_next = True
    else:
        rows = _rows_from(files, after, forward=True, limit=PAGE_SIZE + 1)
        has_next = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        has_previous = after is not None
        if after is None:
            start = 1
    return Page(
        rows=rows,
        start=start,
        next_key=SortKey.of(rows[-1]) if has_next and rows else None,
        previous_key=SortKey.of(rows[0]) if has_previous and rows else None,
        is_first=not has_previous,
    )


# --- What the page is about: the user's identities and files --------------------------------------------------


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
        return [FileRow.of(export_file, by_id[export_file.identity_id], now) for export_file in files]


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

    @classmethod
    def of(cls, export_file: ExportFile, identity: UserIdentity, now: datetime) -> FileRow:
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
            identity=identity_title(identity),
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
        )


_ACTIONS = {FileStatus.EMPTY_LIST: "empty", FileStatus.FAILED: "failed", FileStatus.UNKNOWN: "unknown"}


def _identities(user: User) -> list[UserIdentity]:
    """The user's identities, holding only the fields the pages read.

    A superuser may see hundreds, and building them through Model.__init__ would cost more than listing the
    files: they are filled from plain rows instead, left as `.only(*IDENTITY_FIELDS)` would leave them (any other
    field loads on first access, a query each, which the query-count tests would catch).
    """
    names = ("id", *IDENTITY_FIELDS)
    rows = access.visible_identities(user).values_list(*names)
    identities = []
    for row in rows:
        identity = UserIdentity.__new__(UserIdentity)
        identity.__dict__.update(zip(names, row, strict=True))
        identity._state = ModelState()
        identity._state.adding, identity._state.db = False, rows.db
        identities.append(identity)
    return identities


def _credentials(identities: Sequence[UserIdentity]) -> dict[int, Credential]:
    # Looked up by id where needed: attaching one to each of 500 identities costs more than the rest of the page.
    return Credential.objects.only("name", "health").in_bulk({identity.credential_id for identity in identities})


def _scope(request: AuthenticatedHttpRequest) -> Scope:
    identities = _identities(request.user)
    filters = FileFilters.parse(request.GET, identities)
    scope_ids = filters.identity_ids(identities)
    files = _current(ExportFile.objects.all(), filters.expired)
    # Every visible identity (the usual view) is said as a subquery: an IN list of 500 ids costs milliseconds
    # of ORM work to build, on every page view and poll.
    in_scope = scope_ids if filters.scoped else access.visible_identities(request.user).values("pk")
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
        return sum(self.by_status[status] for status in UNFINISHED)

    def listed(self, filters: FileFilters) -> int:
        return sum(self.by_status[s] for s in filters.statuses) if filters.statuses else self.total

    def title(self, base: str) -> str:
        """ "2 running · 1 failed · Recent Files": the tab says what needs attention before it is opened."""
        parts = [f"{self.running} running"] if self.running else []
        if self.by_status[FileStatus.FAILED]:
            parts.append(f"{self.by_status[FileStatus.FAILED]} failed")
        return " · ".join([*parts, base])


def _counts(scope: Scope) -> Counts:
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


# --- Freshness and problems --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One identity as the freshness strip shows it."""

    identity: UserIdentity
    state: str  # ok | late | error | paused | new
    note: str
    busy: bool  # a refresh is queued or running right now

    @property
    def needs_attention(self) -> bool:
        return self.state in {"error", "paused", "late"}

    @property
    def label(self) -> str:
        """The state on its own, where the time of the last refresh has a column of its own: the strip's notes
        for these two states lead into that time ("Late: last refreshed 2 h ago")."""
        return {"ok": "Up to date", "late": "Late"}.get(self.state, self.note)


def _source(identity: UserIdentity, now: datetime, default_slow: int) -> Source:
    busy = bool(identity.refresh_queued_at or (identity.refreshing_until and identity.refreshing_until > now))
    kind = UserIdentity.ErrorKind(identity.error_kind).label if identity.error_kind else ""
    if identity.paused:
        return Source(identity, "paused", f"Paused ({kind})" if kind else "Paused", busy)
    if identity.error_kind:
        return Source(identity, "error", f"Last refresh failed ({kind})", busy)
    if identity.last_success_at is None:
        return Source(identity, "new", "Not refreshed yet", busy)
    # Three missed slow refreshes, plus a minute of slack, before an identity calls itself late.
    late_after = timedelta(seconds=3 * (identity.slow_interval or default_slow) + 60)
    if now - identity.last_success_at > late_after:
        return Source(identity, "late", "Late: last refreshed", busy)
    return Source(identity, "ok", "Refreshed", busy)


def _sources(identities: Sequence[UserIdentity], now: datetime, limit: int | None) -> list[Source]:
    default_slow = settings.WEBADMIT_SLOW_INTERVAL  # read once: settings lookups add up over 500 identities
    sources = [_source(identity, now, default_slow) for identity in identities]
    if limit is None or len(sources) <= limit:
        return sources
    # Too many to show: those needing attention first, then the least recently refreshed.
    oldest = datetime.min.replace(tzinfo=UTC)
    sources.sort(key=lambda s: (not s.needs_attention, s.identity.last_success_at or oldest))
    return sources[:limit]


@dataclass(frozen=True)
class Problem:
    """A banner: what is wrong, in plain words, and what to do about it."""

    level: str  # "error" or "warning"
    title: str
    detail: str
    next_step: str
    link: str = ""
    link_text: str = ""


def _names(identities: Sequence[UserIdentity], shown: int = 3) -> str:
    names = [identity.display_name for identity in identities[:shown]]
    if len(identities) > shown:
        names.append(f"{len(identities) - shown} more")
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


def _problems(identities: Sequence[UserIdentity], now: datetime, user: User) -> list[Problem]:
    problems: list[Problem] = []
    beat = scheduling.last_heartbeat()
    late_after = timedelta(seconds=max(60, 6 * settings.WEBADMIT_DISPATCH_EVERY))
    if identities and beat is None:
        problems.append(
            Problem(
                "warning",
                "Refreshes have not started",
                "The background worker has not checked in yet, so the statuses below are only as fresh as "
                "the last refresh.",
                "If this lasts more than a minute, ask whoever runs webadmit-dash to start the worker with beat "
                "(celery -A webadmit_dash worker --beat).",
            )
        )
    elif identities and now - beat > late_after:
        problems.append(
            Problem(
                "error",
                "Refreshes are late",
                f"The background worker last checked in {describe_span((now - beat).total_seconds())} ago, so "
                "the statuses below may be out of date.",
                "Ask whoever runs webadmit-dash to check that the worker and beat are running. This page "
                "catches up by itself once they are.",
            )
        )

    credentials = _credentials(identities)
    by_kind: dict[tuple[str, int], list[UserIdentity]] = defaultdict(list)
    for identity in identities:
        kind = identity.error_kind
        if not kind and credentials[identity.credential_id].health == Credential.Health.KEY_REJECTED:
            kind = UserIdentity.ErrorKind.KEY_REJECTED
        if kind:
            # A rejected key affects all of its identities: one banner per credential, not one per identity.
            group = identity.credential_id if kind == UserIdentity.ErrorKind.KEY_REJECTED else 0
            by_kind[(kind, group)].append(identity)
    for (kind, _), affected in by_kind.items():
        problems.append(_identity_problem(kind, affected, credentials[affected[0].credential_id], user))
    return problems


def _identity_problem(kind: str, affected: Sequence[UserIdentity], credential: Credential, user: User) -> Problem:
    names = _names(affected)
    Kind = UserIdentity.ErrorKind
    if kind == Kind.KEY_REJECTED:
        can_fix = user.is_staff and user.has_perm("dashboard.change_credential")
        return Problem(
            "error",
            f"WebAdMIT rejected the API key “{credential.name}”",
            f"Files of {names} are not being refreshed.",
            "An administrator needs to enter a new key for this credential (Admin → Credentials). "
            "Refreshes resume by themselves once WebAdMIT accepts it.",
            link=reverse("admin:dashboard_credential_change", args=[credential.pk]) if can_fix else "",
            link_text="Update the key",
        )
    if kind == Kind.NOT_FOUND:
        return Problem(
            "error",
            "WebAdMIT no longer knows " + ("these identities" if len(affected) > 1 else "this identity"),
            f"WebAdMIT answered that {names} does not exist or has no API Access; this usually happens when "
            "an admissions cycle ends.",
            "Ask an administrator to check the user's API Access in WebAdMIT, or to disable the identity here.",
        )
    if kind == Kind.UNAVAILABLE:
        return Problem(
            "warning",
            "WebAdMIT is not answering",
            f"The last refresh of {names} could not reach WebAdMIT.",
            "Nothing to do: refreshes keep retrying. Statuses may be out of date until WebAdMIT answers.",
        )
    if kind == Kind.RATE_LIMITED:
        return Problem(
            "warning",
            "WebAdMIT's hourly call limit was reached",
            f"Refreshes of {names} are waiting for the limit to reset.",
            "Nothing to do: refreshes resume by themselves, more slowly, within the hour.",
        )
    return Problem(
        "warning",
        "WebAdMIT sent an answer that could not be used",
        f"The last refresh of {names} failed: {affected[0].error_message or 'unexpected response'}",
        "Refreshes keep retrying; if this lasts, tell whoever runs webadmit-dash.",
    )


# --- Rendering the page and its fragments ------------------------------------------------------------------------


def _bucket(now: datetime) -> int:
    return int(now.timestamp()) // FRESHNESS_BUCKET_SECONDS


def _int(raw: str | None, default: int = 0) -> int:
    try:
        return int(raw or default)
    except ValueError:
        return default


POLL_PARAMS = ("since", "bucket", "list", "ids", "top", "end")


@dataclass(frozen=True)
class PollState:
    """What a page tells its poller, in the poller's URL: the version it shows and which rows are on screen."""

    version: int
    bucket: int
    list_version: int  # the version when the rows were listed: newer files than this get the notice
    shown_ids: tuple[int, ...]
    top: bool  # the first page, the only one where new files are offered
    end: SortKey | None  # the first page's last row, when more follow

    @classmethod
    def from_params(cls, params: Any) -> PollState:
        ids = [int(part) for part in params.get("ids", "").split(",")[: 2 * PAGE_SIZE] if part.isdigit()]
        return cls(
            version=_int(params.get("since"), -1),
            bucket=_int(params.get("bucket")),
            list_version=_int(params.get("list")),
            shown_ids=tuple(ids),
            top=params.get("top") == "1",
            end=SortKey.decode(params.get("end")),
        )

    def query(self, filters: FileFilters) -> str:
        extra = [
            ("since", str(self.version)),
            ("bucket", str(self.bucket)),
            ("list", str(self.list_version)),
            ("ids", ",".join(map(str, self.shown_ids))),
        ]
        if self.top:
            extra.append(("top", "1"))
        if self.end:
            extra.append(("end", self.end.encode()))
        return filters.querystring(*extra)


def _base_context(scope: Scope, counts: Counts, now: datetime, user: User) -> dict[str, Any]:
    return {
        "now": now,
        "filters": scope.filters,
        "choices": scope.filters.choices(scope.identities),
        "filters_without_status": urlencode(scope.filters.params(without_status=True)),
        "counts": counts,
        "status_chips": [(status, status.label, counts.by_status[status]) for status in FileStatus],
        "sources": _sources(scope.identities, now, SOURCES_SHOWN),
        "identity_count": len(scope.identities),
        "problems": _problems(scope.identities, now, user),
        "page_title": counts.title("Recent Files"),
        "poll_interval": FAST_POLL_SECONDS
        if counts.running or counts.by_status[FileStatus.UNKNOWN]
        else SLOW_POLL_SECONDS,
    }


def _listing_context(request: AuthenticatedHttpRequest, scope: Scope, now: datetime) -> dict[str, Any]:
    counts = _counts(scope)
    page = _page(scope.listed, request.GET)
    version = scope.version
    context = _base_context(scope, counts, now, request.user)
    context.update(
        files=scope.rows(page.rows, now),
        page=page,
        listed_total=counts.listed(scope.filters),
        next_query=page.next_key
        and scope.filters.querystring(("after", page.next_key.encode()), ("from", str(page.end + 1))),
        previous_query=page.previous_key
        and scope.filters.querystring(
            ("before", page.previous_key.encode()), ("from", str(max(page.start - PAGE_SIZE, 1)))
        ),
        current_path=request.get_full_path(),
        poll_query=PollState(
            version=version,
            bucket=_bucket(now),
            list_version=version,
            shown_ids=tuple(row.pk for row in page.rows),
            top=page.is_first,
            end=page.next_key if page.is_first else None,
        ).query(scope.filters),
    )
    return context


@require_GET
@login_required_htmx
def recent_files(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The Recent Files page; an htmx request aimed at the results (filters, paging) gets just those."""
    now = timezone.now()
    # The identities are read first and the version taken from them: a change committed while the files are
    # read then carries a newer version, so the next poll shows it rather than it being missed.
    scope = _scope(request)
    context = _listing_context(request, scope, now)
    if request.htmx.target == "results" and not request.htmx.history_restore_request:
        response = render(request, "files/recent.html#results_update", context)
        # The address bar gets the short form of what is shown (no empty parameters), ready to bookmark or share.
        paging = [(name, request.GET[name]) for name in ("after", "before", "from") if request.GET.get(name)]
        query = scope.filters.querystring(*paging)
        return push_url(response, reverse("recent_files") + (f"?{query}" if query else ""))
    return render(request, "files/recent.html", context)


@require_GET
@never_cache
def poll_files(request: HttpRequest) -> HttpResponse:
    """The page's live updates: 204 without rendering when nothing changed, else only what changed, out of band.

    The budget for an unchanged poll is two queries (the session, then the user with their version), so this
    view proves the sign-in itself instead of through `login_required`, which would load the user on its own.
    """
    if not request.htmx:
        # Someone opened the poll's address: show them the page it belongs to.
        page = request.GET.copy()
        for name in POLL_PARAMS:
            page.pop(name, None)
        return redirect(reverse("recent_files") + (f"?{page.urlencode()}" if page else ""))
    signed_in = access.session_user_with_version(request)
    if signed_in is not None:
        user, version = signed_in
        request.user = user  # already loaded; nothing below may load it again
    elif request.user.is_authenticated:
        user, version = request.user, access.visible_version(request.user)
    else:
        return _sign_in_again(request)
    now = timezone.now()
    state = PollState.from_params(request.GET)
    if version == state.version and state.bucket == _bucket(now):
        return HttpResponse(status=204)
    return _poll_update(request, state, now)


def _poll_update(request: AuthenticatedHttpRequest, state: PollState, now: datetime) -> HttpResponse:
    scope = _scope(request)
    counts = _counts(scope)
    # Ids come from the browser: only rows of identities the user may see are answered.
    changed = list(
        ExportFile.objects.filter(pk__in=state.shown_ids, change_seq__gt=state.version)
        .filter(identity__in=access.visible_identities(request.user))
        .select_related("export")
    )
    changed_rows = scope.rows(changed, now)
    new_count = _new_files(scope, state)
    context = _base_context(scope, counts, now, request.user)
    context.update(
        oob=True,
        changed=changed_rows,
        new_count=new_count,
        current_path=request.htmx.current_url_abs_path or reverse("recent_files"),
        poll_query=replace(state, version=scope.version, bucket=_bucket(now)).query(scope.filters),
        announcement=_announcement(changed_rows, new_count),
    )
    return render(request, "files/recent.html#poll_update", context)


def _new_files(scope: Scope, state: PollState) -> int:
    """Files that now belong on the first page but are not on screen: offered in a notice, never inserted.

    Inserting them would move the rows under the user's pointer; the notice lets them choose when.
    """
    if not state.top:
        return 0
    candidates = scope.listed.filter(change_seq__gt=state.list_version).exclude(pk__in=state.shown_ids)
    if state.end is not None:
        candidates = candidates.exclude(state.end.after())
    return candidates.count()


def _announcement(changed: Sequence[FileRow], new_count: int) -> str:
    """What a screen reader hears: each changed file's new status (a summary when many change at once)."""
    parts = []
    if len(changed) <= 3:
        for row in changed:
            parts.append(f"{row.name}, file {row.webadmit_id}: {row.status.label}.")
    else:
        parts.append(f"{len(changed)} files changed status.")
    if new_count:
        parts.append(f"{new_count} new file{'s' if new_count != 1 else ''}: use Show new files to list them.")
    return " ".join(parts)


# --- Identities ------------------------------------------------------------------------------------------------


@require_GET
@login_required_htmx
def identity_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every identity the user may see, with when it was last refreshed and a Refresh now button.

    The table re-fetches itself while the tab is visible; those requests (HX-Target: the table) get just the table.
    """
    now = timezone.now()
    identities = _identities(request.user)
    context = _identity_table_context(request, identities, now)
    if request.htmx.target == IDENTITY_TABLE_ID and not request.htmx.history_restore_request:
        return render(request, "files/identities.html#identity_table", context)
    # The banner is the full page's alone: the table's frequent re-fetches skip the heartbeat and problem checks.
    context["problems"] = _problems(identities, now, request.user)
    return render(request, "files/identities.html", context)


def _identity_table_context(
    request: AuthenticatedHttpRequest, identities: list[UserIdentity], now: datetime
) -> dict[str, Any]:
    credentials = _credentials(identities)
    for identity in identities:
        identity.credential = credentials[identity.credential_id]
    sources = _sources(identities, now, limit=None)
    return {
        "now": now,
        "sources": sources,
        "poll_interval": _identity_poll_interval(sources),
        # The table's own re-fetch asks for the page's address, so this is the page's in either case.
        "current_path": request.get_full_path(),
    }


def _identity_poll_interval(sources: Sequence[Source]) -> int:
    """Fast while a refresh is queued or running, so "refreshing…" turns into "Refreshed" within seconds; slow
    otherwise, which still moves "Last refreshed" on as the background refreshes come in."""
    return FAST_POLL_SECONDS if any(source.busy for source in sources) else SLOW_POLL_SECONDS


def _get_identity_for_user(user: User, pk: int) -> UserIdentity:
    identity = access.visible_identities(user).filter(pk=pk).first()
    if identity is None:
        raise Http404("No such identity.")
    return identity


def _get_file_for_user(user: User, pk: int) -> ExportFile:
    export_file = (
        ExportFile.objects.filter(pk=pk, identity__in=access.visible_identities(user))
        .select_related("identity__credential", "export")
        .first()
    )
    if export_file is None:
        raise Http404("No such file.")
    return export_file


@require_POST
@login_required_htmx
def refresh_identity(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Refresh now: queue an immediate refresh of one identity (the engine refuses duplicates and paused ones)."""
    identity = _get_identity_for_user(request.user, pk)
    if scheduling.request_refresh(identity):
        messages.success(request, f"Refreshing {identity.display_name}: changes appear here in a few seconds.")
    elif identity.paused:
        messages.warning(
            request,
            f"{identity.display_name} is paused until its problem is fixed "
            f"({identity.get_error_kind_display() if identity.error_kind else 'see the banner'}).",
        )
    else:
        messages.info(request, f"{identity.display_name} is already being refreshed.")
    response = _after_action(request)
    if request.htmx:
        # The Identities page's table re-fetches on this at once, to show "refreshing…" (or why not). Raised on
        # <body> rather than on the form that asked: a poll of the table may have swapped that form out meanwhile.
        trigger_client_event(response, IDENTITIES_CHANGED_EVENT, {"target": "body"})
    return response


@require_POST
@login_required_htmx
def run_again(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Run again: ask WebAdMIT (E4) for a new run of this file's export; the new file shows on the next refresh."""
    export_file = _get_file_for_user(request.user, pk)
    identity = export_file.identity
    name = export_file.export.name if export_file.export else f"export {export_file.export_webadmit_id}"
    try:
        with connections.client_for(identity.credential) as client:
            run = client.start_export_run(identity.webadmit_id, export_file.export_webadmit_id)
    except WebAdmitError as error:
        connections.record_health(identity.credential, error)
        messages.error(request, f"Could not start {name}: {error.message}")
        return _after_action(request)
    connections.record_health(identity.credential, None)
    scheduling.note_run_started(identity)
    # WebAdMIT answers a second start of an unfinished export with the run already under way.
    if ExportFile.objects.filter(identity=identity, webadmit_id=run.id).exists():
        messages.info(request, f"{name} is already running as file {run.id} ({run.status.label}).")
    else:
        messages.success(
            request, f"WebAdMIT is running {name} as file {run.id} ({run.status.label}); it appears here shortly."
        )
    return _after_action(request)


def _after_action(request: AuthenticatedHttpRequest) -> HttpResponse:
    """htmx gets the messages (and the freshness strip) out of band; a plain form post goes back to its page.

    The htmx answer is a 200 even when WebAdMIT refused: htmx does not swap error responses, and the message
    saying what went wrong is the point of the answer.
    """
    if request.htmx:
        now = timezone.now()
        current_path = request.htmx.current_url_abs_path or reverse("recent_files")
        context: dict[str, Any] = {"now": now, "oob": True, "current_path": current_path}
        # The freshness strip is only on Recent Files (the Identities page has its own table).
        if urlsplit(current_path).path == reverse("recent_files"):
            identities = _identities(request.user)
            context.update(sources=_sources(identities, now, SOURCES_SHOWN), identity_count=len(identities))
        return render(request, "files/recent.html#action_update", context)
    back_to = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back_to, {request.get_host()}, require_https=request.is_secure()):
        back_to = reverse("recent_files")
    return HttpResponseRedirect(back_to)


# --- Downloads -------------------------------------------------------------------------------------------------


@require_GET
@login_required
@never_cache
def download_file(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Our stable download address: mint a fresh WebAdMIT URL and send the browser straight to it."""
    export_file = _get_file_for_user(request.user, pk)
    attempt = downloads.prepare_download(export_file, request.user)
    if attempt.url is not None:
        response = HttpResponseRedirect(attempt.url)
        # The URL is a short-lived bearer credential: keep it out of caches and out of the next site's Referer.
        response["Referrer-Policy"] = "no-referrer"
        return response
    response = render(
        request,
        "files/download_error.html",
        {"file": export_file, "attempt": attempt, "now": timezone.now()},
        status=attempt.http_status,
    )
    if attempt.retry_after:
        response["Retry-After"] = str(int(attempt.retry_after) + 1)
    return response


# --- Preferences -------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    preference = UserPreference.objects.filter(user=request.user).first() or UserPreference(user=request.user)
    form = PreferencesForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        form.save()
        if preference.time_zone:
            request.session[TIME_ZONE_SESSION_KEY] = preference.time_zone
        else:
            request.session.pop(TIME_ZONE_SESSION_KEY, None)
        messages.success(request, "Preferences saved.")
        return redirect("preferences")
    return render(request, "registration/preferences.html", {"form": form})
