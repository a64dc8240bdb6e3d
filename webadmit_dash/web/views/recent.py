"""The Recent Files page and its live poll: the full page, its htmx fragments, and what changed since.

A page tells its poller, in the poller's URL, the version it shows and which rows are on screen; the poll answers
204 when nothing changed, else only the changed rows and the page's summary, out of band. New files are offered in
a notice rather than inserted, so rows never move under the pointer, except where nothing can move: an empty list
is filled in place, and a run the user just started with Run again is inserted at the top (both announced).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.http import HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_htmx.http import push_url

from webadmit_dash.core import access
from webadmit_dash.core.models import ExportFile
from webadmit_dash.schedules import state
from webadmit_dash.shared.http import AuthenticatedHttpRequest, login_required_htmx
from webadmit_dash.shared.templatetags.display import status_icon, svg_icon
from webadmit_dash.web import (
    common,
    csv_export,
    freshness,
    listing,
    pagination,
    params,
    poll_gate,
    row_notes,
    sorting,
    time_signature,
)
from webadmit_dash.web.common import FAST_POLL_SECONDS, SLOW_POLL_SECONDS
from webadmit_dash.web.date_range import instant, read_instant
from webadmit_dash.web.filters import DELIVERY_FAILED, HANDLED, RUNNING_GROUP, FileFilters
from webadmit_dash.web.freshness import SOURCES_SHOWN
from webadmit_dash.web.listing import Counts, FileRow, Scope, for_rows
from webadmit_dash.web.pagination import PAGE_SIZE, SortKey
from webadmit_dash.web.seen_filter import dates_context
from webadmit_dash.web.visits import last_looked, page_load
from webadmit_dash.webadmit.statuses import FileStatus

POLL_PARAMS = ("since", "sig", "list", "ids", "top", "end", "stale", "new")


@dataclass(frozen=True)
class PollState:
    """What a page tells its poller, in the poller's URL: the version it shows and which rows are on screen."""

    version: int
    signature: str  # what time alone changes on the page (web/time_signature.py), as of the render
    list_version: int  # the version when the rows were listed: newer files than this get the notice
    shown_ids: tuple[int, ...]
    top: bool  # the first page, the only one where new files are offered
    end: SortKey | None  # the first page's last row, when more follow
    stale_ids: tuple[int, ...] = ()  # identities whose rows the page shows "as of" a time (freshness.stale_since)
    new_since: datetime | None = None  # rows first seen after this are marked New (web/visits.py), with no query

    @classmethod
    def from_params(cls, query: QueryDict) -> PollState:
        # A version of -1 (or anything unreadable) is older than every version: the poll then answers in full.
        return cls(
            version=params.integer(query, "since", -1, minimum=-1),
            signature=params.text(query, "sig", max_length=20),
            list_version=params.integer(query, "list", 0, minimum=0),
            shown_ids=params.integers(query, "ids", limit=2 * PAGE_SIZE),
            top=params.value(query, "top") == "1",
            end=SortKey.decode(params.value(query, "end")),
            stale_ids=params.integers(query, "stale", limit=1000),
            new_since=read_instant(params.text(query, "new", max_length=60)),
        )

    def query(self, filters: FileFilters) -> str:
        extra = [
            ("since", str(self.version)),
            ("sig", self.signature),
            ("list", str(self.list_version)),
            ("ids", ",".join(map(str, self.shown_ids))),
        ]
        if self.top:
            extra.append(("top", "1"))
        if self.end:
            extra.append(("end", self.end.encode()))
        if self.stale_ids:
            extra.append(("stale", ",".join(map(str, self.stale_ids))))
        if self.new_since:
            extra.append(("new", instant(self.new_since)))
        return filters.querystring(*extra)


@dataclass(frozen=True)
class Chip:
    """One status chip of the filter form: its checkbox value, words, icon and count."""

    value: str
    label: str
    count: int
    icon: SafeString
    hint: str = ""


def _chips(counts: Counts) -> list[Chip]:
    chips = [Chip(status.value, status.label, counts.by_status[status], status_icon(status)) for status in FileStatus]
    # "What's running?" in one click: every unfinished run, the title's "2 running".
    chips.insert(
        0,
        Chip(
            RUNNING_GROUP,
            "Running",
            counts.running,
            svg_icon("i-spinner"),
            "Every run not finished yet (Initializing, Queued, In Progress, or a status not recognised).",
        ),
    )
    chips.append(
        Chip(
            HANDLED,
            "Handled",
            counts.handled,
            svg_icon("i-handled"),
            "Nothing left to do: failures someone acknowledged, and runs (failed, empty or never finished) whose "
            "export has since run well. Their own status's chip no longer counts them.",
        )
    )
    # Always offered, like Handled: its count updates with every poll, so the first refusal shows without a reload.
    chips.append(
        Chip(
            DELIVERY_FAILED,
            "Delivery failed",
            counts.delivery_failed,
            svg_icon("i-alert"),
            "Files a destination refused for good: they need attention until they are delivered again.",
        )
    )
    return chips


def _base_context(
    scope: Scope,
    counts: Counts,
    sources: list[freshness.Source],
    stale: Mapping[int, datetime],
    now: datetime,
    user: User,
) -> dict[str, Any]:
    # Files expected and not come (the watchdog's open misses) of every identity the user sees, whatever the
    # filters: like the problems banner, they are what to look at first. One query.
    misses, misses_total = state.open_misses([identity.pk for identity in scope.identities], now)
    return {
        "now": now,
        "filters": scope.filters,
        "choices": scope.filters.choices(scope.identities),
        "sort_options": sorting.options(scope.filters.sort),
        "filters_without_status": urlencode(scope.filters.params(without_status=True)),
        "counts": counts,
        "status_chips": _chips(counts),
        "sources": sources,
        "identity_count": len(scope.identities),
        "problems": freshness.problems(scope.identities, common.credentials(scope.identities), now, user),
        "misses": misses,
        "misses_total": misses_total,
        "page_title": counts.title("Recent Files", stale=bool(stale)),
        "favicon": static(f"img/favicon-{'stale' if stale and counts.favicon != 'failed' else counts.favicon}.svg"),
        # Fast while files run, and while the list is empty: a new installation's first refresh fills it in.
        "poll_interval": FAST_POLL_SECONDS if counts.running or not counts.total else SLOW_POLL_SECONDS,
    }


def _page_context(
    scope: Scope,
    page: pagination.Page,
    counts: Counts,
    stale: Mapping[int, datetime],
    now: datetime,
    new_since: datetime | None = None,
) -> dict[str, Any]:
    """What the results section shows: one page of rows, its pager, and how many the filters list."""
    return {
        "files": scope.rows(page.rows, now, stale, new_since=new_since),
        "page": page,
        "sort_headers": _sort_headers(scope.filters),
        "sort_words": scope.order.words,
        "listed_total": counts.listed(scope.filters),
        "next_query": page.next_key
        and scope.filters.querystring(("after", page.next_key.encode()), ("from", str(page.end + 1))),
        "previous_query": page.previous_key
        and scope.filters.querystring(
            ("before", page.previous_key.encode()), ("from", str(max(page.start - PAGE_SIZE, 1)))
        ),
    }


def _sort_headers(filters: FileFilters) -> dict[str, sorting.Header]:
    """The column headers' links: the same filters, sorted by the header (from the first page)."""
    return {
        name: replace(header, query=replace(filters, sort=header.sort).querystring())
        for name, header in sorting.headers(filters.sort).items()
    }


def _listing_context(
    request: AuthenticatedHttpRequest, scope: Scope, now: datetime, new_since: datetime | None = None
) -> dict[str, Any]:
    # Read before what it stands for, as the version is: a flip after it shows at the next poll, never is lost.
    signature = time_signature.current(now)
    counts = listing.counts(scope)
    sources, stale = freshness.survey(scope.identities, now, SOURCES_SHOWN)
    page = pagination.page(scope.listed, request.GET, scope.order)
    version = scope.version
    context = _base_context(scope, counts, sources, stale, now, request.user)
    context.update(_page_context(scope, page, counts, stale, now, new_since))
    context.update(dates_context(scope, new_since, now))
    current_path = request.get_full_path()
    context.update(
        current_path=current_path,
        back_query=urlencode({"next": current_path}),
        csv_query=scope.filters.querystring(("format", "csv")),
        poll_query=PollState(
            version=version,
            signature=signature,
            list_version=version,
            shown_ids=tuple(row.pk for row in page.rows),
            top=page.is_first,
            end=page.next_key if page.is_first else None,
            stale_ids=tuple(sorted(stale)),
            new_since=new_since,
        ).query(scope.filters),
    )
    return context


@require_GET
@login_required_htmx
def recent_files(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """The Recent Files page; an htmx request aimed at the results (filters, paging) gets just those."""
    now = timezone.now()
    # The identities are read first and the version taken from them: a change committed while the files are
    # read then carries a newer version, so the next poll shows it rather than it being missed.
    scope = listing.scope(request)
    if params.value(request.GET, "format") == "csv":
        # "Export this list": the same selection as the page, every row of it (web/csv_export.py).
        return csv_export.response(scope, now)
    # Only a full page load is a look at the list (web/visits.py); paging and filtering read the same moment.
    new_since = (
        last_looked(request.user.pk, request.session)
        if request.htmx
        else page_load(request.user.pk, request.session, now)
    )
    context = _listing_context(request, scope, now, new_since)
    if request.htmx.target == "results" and not request.htmx.history_restore_request:
        context["sort_select_oob"] = request.htmx.trigger != "filters"
        response = render(request, "files/recent.html#results_update", context)
        # The address bar gets the short form of what is shown (no empty parameters), ready to bookmark or share.
        paging = [(name, value) for name in ("after", "before", "from") if (value := params.value(request.GET, name))]
        query = scope.filters.querystring(*paging)
        return push_url(response, reverse("recent_files") + (f"?{query}" if query else ""))
    return render(request, "files/recent.html", context)


@require_GET
@never_cache
@login_required_htmx
def poll_files(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The page's live updates: 204 without rendering when nothing changed, else only what changed, out of band.

    Nothing changed: the data (the version) nor what time alone changes (web/time_signature.py; relative times
    age in the browser), so an unchanged list answers 204 whatever the minute. An unchanged poll costs four
    queries here: the session, the user (both Django's own sign-in), the change counter and the version; and one
    (the counter) when web/poll_gate.py answers it first, from what this process learnt here.
    """
    if not request.htmx:
        # Someone opened the poll's address: show them the page it belongs to.
        page = request.GET.copy()
        for name in POLL_PARAMS:
            page.pop(name, None)
        return redirect(reverse("recent_files") + (f"?{page.urlencode()}" if page else ""))
    now = timezone.now()
    state = PollState.from_params(request.GET)
    counter = poll_gate.counter()
    version = access.visible_version(request.user)
    # The next unchanged polls of this session are answered before the request path, from this (web/poll_gate.py).
    poll_gate.remember(request, request.user.pk, counter, version)
    if version == state.version and state.signature == time_signature.current(now):
        return HttpResponse(status=204)
    return _poll_update(request, state, now)


def _poll_update(request: AuthenticatedHttpRequest, state: PollState, now: datetime) -> HttpResponse:
    """What changed since the page's last poll, in three cases: an empty list is filled in place; a first page gets
    the user's own new runs at the top; any other page only has its changed rows replaced (and a count of new files
    offered)."""
    signature = time_signature.current(now)  # before what it stands for, as in _listing_context
    scope = listing.scope(request)
    # The first page's last row, read in the list's own order (not known before the scope is).
    state = replace(state, end=SortKey.decode(params.value(request.GET, "end"), scope.order))
    counts = listing.counts(scope)
    sources, stale = freshness.survey(scope.identities, now, SOURCES_SHOWN)
    changed, news = _changed_rows(request.user, scope, state, stale, now)
    state = replace(state, version=scope.version, signature=signature, stale_ids=tuple(sorted(stale)))
    context = _base_context(scope, counts, sources, stale, now, request.user)
    current_path = request.htmx.current_url_abs_path or reverse("recent_files")
    context.update(oob=True, current_path=current_path, back_query=urlencode({"next": current_path}))
    filled: dict[str, Any] = {}
    inserted: list[FileRow] = []
    if state.top and not state.shown_ids:
        state, filled = _fill_empty_list(scope, state, counts, stale, now)
        context.update(filled)
    elif state.top and scope.order.is_default:
        # Only the default order puts new runs at the top; in another, their place may be anywhere on the page (or
        # on a later one), so they are offered in the notice like anyone else's.
        state, inserted = _insert_own_runs(request.user, scope, state, stale, now)
    fill = bool(filled)
    new_count = 0 if fill else _new_files(scope, state)
    context.update(
        changed=changed,
        fill=fill,
        inserted=inserted,
        new_count=new_count,
        poll_query=state.query(scope.filters),
        announcement=_announcement(news, new_count, listed=len(context["files"]) if fill else 0, inserted=inserted),
    )
    return render(request, "files/recent.html#poll_update", context)


def _changed_rows(
    user: User, scope: Scope, state: PollState, stale: Mapping[int, datetime], now: datetime
) -> tuple[list[FileRow], list[FileRow]]:
    """The rows on screen to re-render, and among them those whose file changed (the news to announce).

    Re-rendered: rows whose file changed since the page's version, and those of identities that went stale (or
    fresh again) since, for their "as of", and failed rows whose newer run changed (row_notes); a row re-rendered for
    its "as of" or its newer run alone is not news.
    """
    flipped = set(stale).symmetric_difference(state.stale_ids)
    wanted = (
        Q(change_seq__gt=state.version) | Q(identity_id__in=flipped) if flipped else Q(change_seq__gt=state.version)
    )
    # A failed row's "a newer run is going" changes with that newer run, not with its own file.
    wanted |= row_notes.newer_run_changed(state.version)
    # Ids come from the browser: only rows of identities the user may see are answered.
    files = list(
        for_rows(
            ExportFile.objects.filter(pk__in=state.shown_ids).filter(
                wanted, identity__in=access.visible_identities(user)
            )
        )
    )
    rows = scope.rows(files, now, stale, new_since=state.new_since)
    news = [row for row, file in zip(rows, files, strict=True) if file.change_seq > state.version]
    return rows, news


def _fill_empty_list(
    scope: Scope, state: PollState, counts: Counts, stale: Mapping[int, datetime], now: datetime
) -> tuple[PollState, dict[str, Any]]:
    """An empty list (a first visit before the first refresh, or filters that matched nothing yet) has no rows to
    move: it is filled in place with the first page, once there is one ({} while there is none)."""
    page = pagination.page(scope.listed, QueryDict(), scope.order)
    if not page.rows:
        return state, {}
    ids = tuple(row.pk for row in page.rows)
    state = replace(state, list_version=scope.version, shown_ids=ids, end=page.next_key)
    return state, _page_context(scope, page, counts, stale, now, state.new_since)


def _insert_own_runs(
    user: User, scope: Scope, state: PollState, stale: Mapping[int, datetime], now: datetime
) -> tuple[PollState, list[FileRow]]:
    """Runs this user started with Run again go in at the top at once: they asked for them, and expect them."""
    own = list(
        _new_candidates(scope, state).filter(started_by__user=user).distinct().order_by(*pagination.ORDER)[:PAGE_SIZE]
    )
    if not own:
        return state, []
    shown_ids = (*(file.pk for file in own), *state.shown_ids)[: 2 * PAGE_SIZE]
    return replace(state, shown_ids=shown_ids), scope.rows(own, now, stale, new_since=state.new_since)


def _new_candidates(scope: Scope, state: PollState) -> QuerySet[ExportFile]:
    """Files listed since the page's rows were, not on screen, that belong above its last row."""
    candidates = scope.listed.filter(change_seq__gt=state.list_version).exclude(pk__in=state.shown_ids)
    if state.end is not None:
        candidates = candidates.exclude(state.end.after())
    return candidates


def _new_files(scope: Scope, state: PollState) -> int:
    """Files that now belong on the first page but are not on screen: offered in a notice, never inserted.

    Inserting them would move the rows under the user's pointer; the notice lets them choose when.
    """
    if not state.top:
        return 0
    return _new_candidates(scope, state).count()


def _announcement(
    changed: Sequence[FileRow], new_count: int, *, listed: int = 0, inserted: Sequence[FileRow] = ()
) -> str:
    """What a screen reader hears: files listed or inserted, each changed file's new status (a summary when many
    change at once), and new files waiting behind the notice."""
    parts = []
    if listed:
        parts.append(f"{listed} file{'s' if listed != 1 else ''} listed.")
    for row in inserted:
        parts.append(f"Your new run of {row.name}, file {row.webadmit_id}, is listed first: {row.status.label}.")
    if len(changed) <= 3:
        for row in changed:
            parts.append(f"{row.name}, file {row.webadmit_id}: {row.status.label}.")
    else:
        parts.append(f"{len(changed)} files changed status.")
    if new_count:
        parts.append(f"{new_count} new file{'s' if new_count != 1 else ''}: use Show new files to list them.")
    return " ".join(parts)
