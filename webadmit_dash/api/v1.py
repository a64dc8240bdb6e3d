"""The API, version 1: files (the Recent Files page's list, filters and order), one file with its history and
collection trail, its download (a PDF Manager batch: each of its zips), Deliver again, the list as CSV, identities
with their freshness, schedules, and what the watchdog expects of their exports (schedules/watchdog.py).

Every answer comes from the same functions as the pages: `listing.scope` selects (so a script and a person with
the same filters see the same rows), `file_lookup.find_file` looks up (404 for what the token's user may not
see), `collection.serving` and `engine.downloads` download (same checks and audit), `trail` tells and delivers
again, `freshness` judges identities.

Deliver again is the one call that acts: only a token made to act (ApiToken.can_act, chosen when it is made) opens
it, and then for what its user may do on the file's page; every other token stays read-only.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from ninja import NinjaAPI, Query

# The function, not ninja.Path (an Annotated alias to type checkers): ids are declared as defaults here.
from ninja.params.functions import Path
from ninja.responses import Status

from webadmit_dash.api import zips
from webadmit_dash.api.auth import ActingToken, BearerToken
from webadmit_dash.api.schemas import (
    MAX_ID,
    MAX_PART,
    Ambiguous,
    DeliverAgainOut,
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
from webadmit_dash.collection import serving
from webadmit_dash.collection.models import CollectedFile, FileDelivery
from webadmit_dash.core import access, states
from webadmit_dash.core.models import ExportFile, UserIdentity, UserPreference
from webadmit_dash.core.states import FileState
from webadmit_dash.engine import downloads
from webadmit_dash.schedules import news, timing, watchdog
from webadmit_dash.schedules.models import Expectation, Missing, Schedule
from webadmit_dash.web import common, csv_export, file_lookup, freshness, listing, pagination, trail
from webadmit_dash.web.listing import Scope
from webadmit_dash.web.pagination import SortKey
from webadmit_dash.web.trail import Piece

api = NinjaAPI(
    title="webadmit-dash",
    version="1",
    description=(
        "Access for scripts to what the dashboard shows (and, for a token made to act, Deliver again). Send a token "
        "made on the API tokens page as "
        "`Authorization: Bearer <token>`; it sees exactly what its user sees."
    ),
    auth=BearerToken(),
    urls_namespace="api-v1",
)

ERRORS: dict[int, Any] = {401: Message, 422: ValidationErrors}
FileId = Path(
    ...,
    ge=1,
    le=MAX_ID,
    description="Our id of the file (`id` in the files list), or WebAdMIT's (`webadmit_id`, the number on the rows). "
    "A number that names several files you can see is answered 300 with the candidates.",
)


def _file(request: HttpRequest, file_id: int) -> ExportFile | Status[dict[str, Any]]:
    """The file `file_id` names (our id, or WebAdMIT's when that names one file only), or a 300 with the candidates
    when it names several (web.file_lookup); 404 for none the token's user may see."""
    found = file_lookup.find_file(request.user, file_id)  # type: ignore[arg-type]  # BearerToken has set the user
    if found.file is not None:
        return found.file
    candidates = [
        {
            "id": candidate.pk,
            "webadmit_id": candidate.webadmit_id,
            "identity_id": candidate.identity_id,
            "identity": candidate.identity.display_name,
            "export_name": candidate.export_name,
            "matched": "id" if candidate.pk == file_id else "webadmit_id",
        }
        for candidate in found.candidates
    ]
    detail = f"{file_id} names {len(candidates)} files: ask again with the `id` of the one you mean."
    return Status(300, {"detail": detail, "candidates": candidates})


def _scope(request: HttpRequest, filters: FileFilters) -> Scope:
    """The page's own selection, from the page's own query parameters rebuilt from the validated ones."""
    params = QueryDict(mutable=True)
    params.setlist("status", [str(status) for status in filters.status])
    params.setlist("state", [state.value for state in filters.state])
    for name in ("association", "cycle", "q"):
        if getattr(filters, name):
            params[name] = getattr(filters, name)
    if filters.identity is not None:
        params["identity"] = str(filters.identity)
    if filters.kind is not None:
        params["kind"] = filters.kind.value
    if filters.expired:
        params["expired"] = "1"
    dated = {name: str(getattr(filters, name)) for name in ("when", "seen_from", "seen_to") if getattr(filters, name)}
    params.update(dated)
    if filters.sort:
        params["sort"] = filters.sort
    request.GET = params  # type: ignore[assignment]
    if dated:
        # Days begin at midnight in the token's user's zone, as on their pages (the API has no session to carry it).
        zone = UserPreference.objects.filter(user=request.user).values_list("time_zone", flat=True).first()  # type: ignore[misc]
        with timezone.override(zoneinfo.ZoneInfo(zone) if zone else None):
            scope = listing.scope(request)  # type: ignore[arg-type]
    else:
        scope = listing.scope(request)  # type: ignore[arg-type]  # BearerToken has set request.user
    if filters.webadmit_id is None:
        return scope
    # The API's own filter (the page's search box already finds a WebAdMIT id among export names).
    return replace(
        scope,
        files=scope.files.filter(webadmit_id=filters.webadmit_id),
        listed=scope.listed.filter(webadmit_id=filters.webadmit_id),
    )


def _file_out(
    export_file: ExportFile,
    identity: common.IdentityRow | UserIdentity,
    batch_zips: list[zips.Zip],
    archived: bool | None = None,
) -> dict[str, Any]:
    """A file as the list and the detail give it; `archived` is read from listing.for_rows' annotation unless
    given."""
    export = export_file.export
    status = export_file.status_enum
    if archived is None:
        archived = bool(vars(export_file).get("archived", False))
    # A batch's documents are its zips, each with its own download (`zips`): the file's own download is of export
    # files.
    downloadable = _downloadable(export_file, archived) and not export_file.is_batch
    state = states.state_of(export_file)
    return {
        "id": export_file.pk,
        "kind": export_file.kind,
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
        # core.states: the same meaning as the page's title, chips, order and counts.
        "state": state,
        "needs_attention": state is FileState.NEEDS_ATTENTION,
        "acknowledged_at": export_file.acknowledged_at,
        "acknowledged_by": _acknowledged_by(export_file),
        "superseded_by": export_file.superseded_by_id,
        "delivery_failed": export_file.delivery_failed_at is not None,
        "archived": archived,
        "zips": [_zip_out(export_file, each) for each in batch_zips],
    }


def _downloadable(export_file: ExportFile, archived: bool) -> bool:
    """Whether WebAdMIT has it to give now, or the archive kept it (then even after WebAdMIT forgot it): the page's
    rule for its Download button."""
    return export_file.status_enum.is_downloadable and (export_file.gone_at is None or archived)


def _zip_out(batch: ExportFile, batch_zip: zips.Zip) -> dict[str, Any]:
    downloadable = _downloadable(batch, batch_zip.archived)
    return {
        "part": batch_zip.part,
        "parts": batch_zip.parts,
        "archived": batch_zip.archived,
        "download_url": reverse("api-v1:download_zip", args=[batch.pk, batch_zip.part]) if downloadable else None,
    }


def _acknowledged_by(export_file: ExportFile) -> str | None:
    """Who acknowledged the file: from listing.for_rows' annotation, or (one file) from the relation."""
    annotated = vars(export_file)
    if "acknowledged_name" in annotated:
        name: str | None = annotated["acknowledged_name"]
        return name
    user = export_file.acknowledged_by
    return user.get_username() if user else None


@api.get("/files", response={200: FilePage, **ERRORS}, url_name="list_files", summary="Recent files")
def list_files(request: HttpRequest, query: Query[FilePageQuery]) -> dict[str, Any]:
    """The Recent Files list with the page's filters and order (failed and unfinished first, then newest, unless
    `sort` says otherwise), in pages that continue after a cursor: walking every page returns each file exactly
    once."""
    scope = _scope(request, query)
    key = SortKey.decode(query.after, scope.order) if query.after else None
    rows = pagination.rows_after(scope.listed, key, query.limit + 1, scope.order)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    identities = {identity.pk: identity for identity in scope.identities}
    batch_zips = zips.of_files(rows)  # one query for the page's batches
    cursor = SortKey.of(rows[-1], scope.order).encode() if more and rows else None
    next_params = [*scope.filters.params(), ("after", cursor), ("limit", str(query.limit))] if cursor else []
    return {
        "items": [_file_out(row, identities[row.identity_id], batch_zips.get(row.pk, [])) for row in rows],
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


@api.get(
    "/files/{file_id}",
    response={200: FileDetail, 300: Ambiguous, 404: Message, **ERRORS},
    url_name="file",
    summary="One file",
)
def file_detail(request: HttpRequest, file_id: int = FileId) -> dict[str, Any] | Status[dict[str, Any]]:
    """One file with its status history (newest first) and what collection did with it: what was kept (size,
    SHA-256, lines) and each delivery; a PDF Manager batch's, zip by zip (in `zips`), and of its index CSV
    (`index`). 404 for a file its user may not see; 300 with the candidates for a number that names several."""
    export_file = _file(request, file_id)
    if isinstance(export_file, Status):
        return export_file
    history = export_file.status_changes.order_by("-changed_at", "-pk").values(
        "old_status", "new_status", "raw_status", "changed_at"
    )
    found = trail.of(export_file)
    collected = found.collected
    batch_zips = zips.of_batch(export_file, found) if export_file.is_batch else []
    index = zips.index_of(found)
    return {
        **_file_out(export_file, export_file.identity, batch_zips, archived=found.archived),
        "zips": [{**_zip_out(export_file, each), **_piece_out(each.piece)} for each in batch_zips],
        "index": _piece_out(index) if index is not None else None,
        "history": [{**change, "old_status": change["old_status"] or None} for change in history],
        "collected": _collected_out(collected) if collected is not None else None,
        "deliveries": [_delivery_out(step.delivery) for step in found.deliveries],
    }


def _piece_out(piece: Piece | None) -> dict[str, Any]:
    """What collection kept of one piece of a batch (a zip, or its index) and its deliveries, in the shape of an
    export file's `collected` and `deliveries`."""
    if piece is None:
        return {"collected": None, "deliveries": []}
    return {
        "collected": _collected_out(piece.collected),
        "deliveries": [_delivery_out(step.delivery) for step in piece.deliveries],
    }


def _collected_out(collected: CollectedFile) -> dict[str, Any]:
    fields = ("state", "size", "sha256", "line_count", "content_type", "collected_at", "pruned_at", "hold")
    return {**{name: getattr(collected, name) for name in fields}, "last_error": collected.last_error}


def _delivery_out(delivery: FileDelivery) -> dict[str, Any]:
    fields = ("id", "round", "state", "file_name", "remote_name", "checksum_verified", "delivered_at", "failed_at")
    return {
        **{name: getattr(delivery, name) for name in fields},
        "destination": delivery.destination.name,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at if delivery.state == FileDelivery.State.PENDING else None,
        "last_error": delivery.last_error,
    }


# What a download answers, besides the file it sends: a file's and a zip's are the same answers.
DOWNLOAD_ERRORS: dict[int, Any] = {
    300: Ambiguous, 404: Message, 409: DownloadRefused, 410: DownloadRefused, 429: DownloadRefused,
    502: DownloadRefused, 503: DownloadRefused, **ERRORS,
}  # fmt: skip
DOWNLOAD_ANSWERS = {
    "responses": {
        200: {
            "description": "The archived copy's bytes, verified first (a file collected into the archive).",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        302: {
            "description": "To a fresh download link from WebAdMIT, valid for seconds: follow it at once.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        500: {
            "description": "The archived copy failed its integrity check: nothing was served.",
            "content": {"application/json": {"schema": DownloadRefused.json_schema()}},
        },
    }
}


@api.get(
    "/files/{file_id}/download",
    response=DOWNLOAD_ERRORS,
    url_name="download_file",
    summary="Download a file",
    openapi_extra=DOWNLOAD_ANSWERS,
)
def download_file(request: HttpRequest, file_id: int = FileId) -> HttpResponseBase:
    """The archived copy, streamed, once the file is in the archive (no WebAdMIT call); else asks WebAdMIT for a
    fresh download link and redirects to it. The page's checks and audit either way. 429 (with `Retry-After`) past
    WEBADMIT_INTERACTIVE_PER_MINUTE WebAdMIT downloads a minute for the token's user. 300 with the candidates
    (nothing downloaded) for a number that names several files. A PDF Manager batch is answered 409: its
    documents are its zips (`zips` in the list, each with its own `download_url`)."""
    export_file = _file(request, file_id)
    if isinstance(export_file, Status):
        return api.create_response(request, export_file.value, status=export_file.status_code)
    archived = serving.archived_copy(export_file)
    return _downloaded(request, archived, lambda: downloads.prepare_download(export_file, request.user))  # type: ignore[arg-type]


@api.get(
    "/files/{file_id}/zips/{part}/download",
    response=DOWNLOAD_ERRORS,
    url_name="download_zip",
    summary="Download a zip of a PDF Manager batch",
    openapi_extra=DOWNLOAD_ANSWERS,
)
def download_zip(
    request: HttpRequest,
    file_id: int = FileId,
    part: int = Path(..., ge=1, le=MAX_PART, description="The zip's place among its batch's zips, from 1 (`part`)."),
) -> HttpResponseBase:
    """One zip of a PDF Manager batch ("part 2 of 3"), as the batch's page downloads it: its archived copy, streamed,
    when collection kept it (no WebAdMIT call); else asks WebAdMIT for a fresh link to it and redirects there. The
    same checks, audit (the zip named in its message) and limits as a file's download. 404 for a part the batch
    does not have (or not yet: its zips are read once it is ready) and for an export file, which has no zips."""
    export_file = _file(request, file_id)
    if isinstance(export_file, Status):
        return api.create_response(request, export_file.value, status=export_file.status_code)
    batch_zip = export_file.zips.filter(part=part).first() if export_file.is_batch else None
    if batch_zip is None:
        raise Http404("No such zip.")
    archived = serving.archived_zip(export_file, part)
    return _downloaded(request, archived, lambda: downloads.prepare_zip_download(batch_zip, request.user))  # type: ignore[arg-type]


def _downloaded(
    request: HttpRequest, archived: CollectedFile | None, prepare: Callable[[], downloads.DownloadAttempt]
) -> HttpResponseBase:
    """The archived copy when there is one (verified and audited by `serving`), else WebAdMIT's fresh link
    (`prepare`, audited by the engine) as a redirect; or the refusal in words, with `Retry-After` when it asks to
    wait."""
    attempt: downloads.DownloadAttempt | serving.ArchiveRefused
    if archived is not None:
        try:
            return serving.serve(archived, request.user)  # type: ignore[arg-type]  # BearerToken has set the user
        except serving.ArchiveRefused as refused:
            attempt = refused
    else:
        attempt = prepare()
        if attempt.url is not None:
            redirect = HttpResponseRedirect(attempt.url)
            # The URL is a short-lived bearer credential: keep it out of caches and out of the next site's Referer.
            redirect["Referrer-Policy"] = "no-referrer"
            redirect["Cache-Control"] = "no-store"
            return redirect
    body = {"detail": attempt.message, "title": attempt.title, "outcome": attempt.outcome}
    response = api.create_response(request, body, status=attempt.http_status)
    if attempt.retry_after:
        response["Retry-After"] = str(int(attempt.retry_after) + 1)
    return response


@api.post(
    "/files/{file_id}/deliver-again",
    response={202: DeliverAgainOut, 300: Ambiguous, 404: Message, 409: Message, **ERRORS},
    url_name="deliver_again",
    summary="Deliver a file again",
    auth=ActingToken(),
)
def deliver_again(request: HttpRequest, file_id: int = FileId) -> Status[dict[str, Any]]:
    """A new round of delivery to each destination the file went to, from the archive, as the file page's button
    does; the deliveries start within seconds (see /files/{id} for how they went). 409 when the file is not in the
    archive or has nowhere to go; 202 with no new rounds when every one is already on its way. Needs a token made
    to act: a read-only token is answered 401. 300 with the candidates (nothing delivered) for a number that
    names several files."""
    export_file = _file(request, file_id)
    if isinstance(export_file, Status):
        return export_file
    answer = trail.deliver_again(export_file, request.user)  # type: ignore[arg-type]
    if answer.refused:
        return Status(409, {"detail": answer.message})
    return Status(
        202, {"detail": answer.message, "deliveries": [_delivery_out(delivery) for delivery in answer.rounds]}
    )


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
