"""The read-only API, version 1: files (the Recent Files page's list, filters and order), one file with its
history, its download, the list as CSV, identities with their freshness, and what the watchdog expects of their
exports (schedules/watchdog.py).

Every answer comes from the same functions as the pages: `listing.scope` selects (so a script and a person with
the same filters see the same rows), `common.get_file_for_user` looks up (404 for what the token's user may not
see), `engine.downloads` downloads (same checks and audit), `freshness` judges identities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import NinjaAPI, Query

# The function, not ninja.Path (an Annotated alias to type checkers): ids are declared as defaults here.
from ninja.params.functions import Path

from webadmit_dash.api.auth import BearerToken
from webadmit_dash.api.schemas import (
    MAX_ID,
    DownloadRefused,
    ExpectationList,
    FileDetail,
    FileFilters,
    FilePage,
    FilePageQuery,
    IdentityOut,
    IdentityPage,
    IdentityPageQuery,
    Message,
    SchedulePage,
    ValidationErrors,
)
from webadmit_dash.core import access
from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.engine import downloads
from webadmit_dash.schedules import news, timing, watchdog
from webadmit_dash.schedules.models import Expectation, Missing, Schedule
from webadmit_dash.web import common, csv_export, freshness, listing, pagination
from webadmit_dash.web.listing import Scope
from webadmit_dash.web.pagination import SortKey

api = NinjaAPI(
    title="webadmit-dash",
    version="1",
    description=(
        "Read-only access for scripts to what the dashboard shows. Send a token made on the API tokens page as "
        "`Authorization: Bearer <token>`; it sees exactly what its user sees."
    ),
    auth=BearerToken(),
    urls_namespace="api-v1",
)

ERRORS: dict[int, Any] = {401: Message, 422: ValidationErrors}
FileId = Path(..., ge=1, le=MAX_ID, description="Our id of the file (`id` in the files list).")


def _scope(request: HttpRequest, filters: FileFilters) -> Scope:
    """The page's own selection, from the page's own query parameters rebuilt from the validated ones."""
    params = QueryDict(mutable=True)
    params.setlist("status", [status.value for status in filters.status])
    for name in ("association", "cycle", "q"):
        if getattr(filters, name):
            params[name] = getattr(filters, name)
    if filters.identity is not None:
        params["identity"] = str(filters.identity)
    if filters.expired:
        params["expired"] = "1"
    request.GET = params  # type: ignore[assignment]
    return listing.scope(request)  # type: ignore[arg-type]  # BearerToken has set request.user


def _file_out(export_file: ExportFile, identity: common.IdentityRow | UserIdentity) -> dict[str, Any]:
    export = export_file.export
    status = export_file.status_enum
    downloadable = status.is_downloadable and export_file.gone_at is None
    return {
        "id": export_file.pk,
        "webadmit_id": export_file.webadmit_id,
        "export_id": export_file.export_webadmit_id,
        "export_name": export.name if export else None,
        "format": export.format if export else "",
        "identity_id": identity.pk,
        "identity": identity.title,
        "association": identity.association,
        "cycle": identity.cycle,
        "status": status,
        "status_label": status.label,
        "raw_status": export_file.raw_status,
        "status_changed_at": export_file.status_changed_at,
        "first_seen_at": export_file.first_seen_at,
        "gone_at": export_file.gone_at,
        "download_url": reverse("api-v1:download_file", args=[export_file.pk]) if downloadable else None,
    }


@api.get("/files", response={200: FilePage, **ERRORS}, url_name="list_files", summary="Recent files")
def list_files(request: HttpRequest, query: Query[FilePageQuery]) -> dict[str, Any]:
    """The Recent Files list with the page's filters and order (failed and unfinished first, then newest), in pages
    that continue after a cursor: walking every page returns each file exactly once."""
    scope = _scope(request, query)
    key = SortKey.decode(query.after) if query.after else None
    rows = pagination.rows_after(scope.listed, key, query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    identities = {identity.pk: identity for identity in scope.identities}
    cursor = SortKey.of(rows[-1]).encode() if more and rows else None
    next_params = [*scope.filters.params(), ("after", cursor), ("limit", str(query.limit))] if cursor else []
    return {
        "items": [_file_out(row, identities[row.identity_id]) for row in rows],
        "next_cursor": cursor,
        "next": f"{request.path}?{urlencode(next_params)}" if cursor else None,
    }


@api.get(
    "/files.csv",
    url_name="files_csv",
    summary="Recent files as CSV",
    openapi_extra={
        "responses": {
            200: {
                "description": "Every file the filters keep, in the page's order; UTF-8 with a byte-order mark.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            401: {"description": "Unauthorized", "content": {"application/json": {"schema": Message.json_schema()}}},
            422: {
                "description": "Unprocessable Content",
                "content": {"application/json": {"schema": ValidationErrors.json_schema()}},
            },
        }
    },
)
def files_csv(request: HttpRequest, filters: Query[FileFilters]) -> StreamingHttpResponse:
    """The same list as CSV, exactly as the page's "Export this list" gives it: every row, streamed."""
    return csv_export.response(_scope(request, filters), timezone.now())


@api.get("/files/{file_id}", response={200: FileDetail, 404: Message, **ERRORS}, url_name="file", summary="One file")
def file_detail(request: HttpRequest, file_id: int = FileId) -> dict[str, Any]:
    """One file with its status history (newest first). 404 for a file its user may not see."""
    export_file = common.get_file_for_user(request.user, file_id)  # type: ignore[arg-type]
    history = export_file.status_changes.order_by("-changed_at", "-pk").values(
        "old_status", "new_status", "raw_status", "changed_at"
    )
    return {
        **_file_out(export_file, export_file.identity),
        "history": [{**change, "old_status": change["old_status"] or None} for change in history],
    }


@api.get(
    "/files/{file_id}/download",
    response={404: Message, 409: DownloadRefused, 410: DownloadRefused, 429: DownloadRefused, 502: DownloadRefused,
              503: DownloadRefused, **ERRORS},
    url_name="download_file",
    summary="Download a file",
    openapi_extra={
        "responses": {
            302: {
                "description": "To a fresh download link from WebAdMIT, valid for seconds: follow it at once.",
                "headers": {"Location": {"schema": {"type": "string"}}},
            }
        }
    },
)  # fmt: skip
def download_file(request: HttpRequest, file_id: int = FileId) -> HttpResponse:
    """Asks WebAdMIT for a fresh download link and redirects to it, with the page's checks and audit. 429 (with
    `Retry-After`) past WEBADMIT_INTERACTIVE_PER_MINUTE downloads a minute for the token's user."""
    export_file = common.get_file_for_user(request.user, file_id)  # type: ignore[arg-type]
    attempt = downloads.prepare_download(export_file, request.user)  # type: ignore[arg-type]
    if attempt.url is not None:
        redirect = HttpResponseRedirect(attempt.url)
        redirect["Referrer-Policy"] = "no-referrer"
        redirect["Cache-Control"] = "no-store"
        return redirect
    body = {"detail": attempt.message, "title": attempt.title, "outcome": attempt.outcome}
    response = api.create_response(request, body, status=attempt.http_status)
    if attempt.retry_after:
        response["Retry-After"] = str(int(attempt.retry_after) + 1)
    return response


@api.get("/identities", response={200: IdentityPage, **ERRORS}, url_name="list_identities", summary="Identities")
def list_identities(request: HttpRequest, query: Query[IdentityPageQuery]) -> dict[str, Any]:
    """The identities the token's user may see, with how fresh their files are, in pages by id."""
    visible = access.visible_identities(request.user).order_by("pk")
    if query.after is not None:
        visible = visible.filter(pk__gt=query.after)
    rows = common.identity_rows(visible[: query.limit + 1])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    now = timezone.now()
    cursor = rows[-1].pk if more and rows else None
    return {
        "items": [_identity_out(source, now) for source in freshness.sources(rows, now, None)],
        "next_cursor": cursor,
        "next": f"{request.path}?{urlencode({'after': cursor, 'limit': query.limit})}" if cursor else None,
    }


@api.get(
    "/identities/{identity_id}",
    response={200: IdentityOut, 404: Message, **ERRORS},
    url_name="identity",
    summary="One identity",
)
def identity_detail(
    request: HttpRequest, identity_id: int = Path(..., ge=1, le=MAX_ID, description="Our id of the identity.")
) -> dict[str, Any]:
    """One identity with its freshness. 404 for an identity its user may not see."""
    found = common.identity_rows(access.visible_identities(request.user).filter(pk=identity_id))
    if not found:
        raise Http404("No such identity.")
    now = timezone.now()
    return _identity_out(freshness.sources(found, now, None)[0], now)


@api.get("/schedules", response={200: SchedulePage, **ERRORS}, url_name="list_schedules", summary="Schedules")
def list_schedules(request: HttpRequest, query: Query[IdentityPageQuery]) -> dict[str, Any]:
    """The schedules of the identities the token's user may see (read-only: they are made on an export's page or
    in the admin), with their words, next run and what became of the last slot, in pages by id."""
    visible = (
        Schedule.objects.filter(export__identity__in=access.visible_identities(request.user))
        .select_related("export__identity")
        .order_by("pk")
    )
    if query.after is not None:
        visible = visible.filter(pk__gt=query.after)
    rows = list(visible[: query.limit + 1])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = rows[-1].pk if more and rows else None
    return {
        "items": [_schedule_out(schedule) for schedule in rows],
        "next_cursor": cursor,
        "next": f"{request.path}?{urlencode({'after': cursor, 'limit': query.limit})}" if cursor else None,
    }


def _schedule_out(schedule: Schedule) -> dict[str, Any]:
    export = schedule.export
    return {
        "id": schedule.pk,
        "export_id": export.pk,
        "export_webadmit_id": export.webadmit_id,
        "export_name": export.name,
        "identity_id": export.identity_id,
        "identity": export.identity.display_name,
        "kind": schedule.kind,
        "times": schedule.times,
        "cron": schedule.cron,
        "time_zone": timing.zone().key,
        "description": timing.describe(schedule),
        "enabled": schedule.enabled,
        "next_run_at": schedule.next_run_at if schedule.enabled else None,
        "last_run_at": schedule.last_run_at,
        "last_outcome": schedule.last_outcome,
        "last_message": schedule.last_message,
    }


def _identity_out(source: freshness.Source, now: datetime) -> dict[str, Any]:
    identity = source.identity
    return {
        "id": identity.pk,
        "webadmit_id": identity.webadmit_id,
        "name": identity.display_name,
        "association": identity.association,
        "organization": identity.organization,
        "institution": identity.institution,
        "cycle": identity.cycle,
        "freshness": source.state,
        "freshness_note": source.note,
        "refreshing": source.busy,
        "last_success_at": identity.last_success_at,
        "last_attempt_at": identity.last_attempt_at,
        "next_refresh_at": identity.next_refresh_at,
        "error": identity.error_message if identity.error_kind else "",
    }


@api.get("/expectations", response={200: ExpectationList, **ERRORS}, url_name="expectations", summary="Expected files")
def list_expectations(request: HttpRequest) -> dict[str, Any]:
    """What the watchdog expects of the exports the token's user may see (a good run by a time of day), with each
    one's next deadline and the misses still waiting for their file. Read-only."""
    now = timezone.now()
    expectations = (
        Expectation.objects.filter(export__identity__in=access.visible_identities(request.user))
        .select_related("export__identity")
        # Only the open misses: a long-watched export has years of closed ones.
        .prefetch_related(
            Prefetch("misses", queryset=Missing.objects.filter(arrived_at__isnull=True).order_by("expected_by", "pk"))
        )
        .order_by("export__name", "by_time", "pk")
    )
    return {"items": [_expectation_out(expectation, now) for expectation in expectations]}


def _expectation_out(expectation: Expectation, now: datetime) -> dict[str, Any]:
    export = expectation.export
    open_misses = expectation.misses.all()  # prefetched: the open ones, oldest first
    return {
        "id": expectation.pk,
        "export_id": export.webadmit_id,
        "export_name": export.name,
        "identity_id": export.identity_id,
        "identity": export.identity.title,
        "by_time": f"{expectation.by_time:%H:%M}",
        "days": expectation.days,
        "enabled": expectation.enabled,
        "schedule_id": expectation.schedule_id,
        "next_deadline": watchdog.next_deadline(expectation, now) if expectation.enabled else None,
        "checked_through": expectation.checked_through,
        "open_misses": [
            {"expected_by": miss.expected_by, "detected_at": miss.detected_at, "words": news.expected_words(miss, now)}
            for miss in open_misses
        ],
    }
