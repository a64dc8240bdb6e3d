"""A file's own pages: its history and collection trail (the file page), Download, Acknowledge and Deliver again.

Download is our stable address: a file in the archive is streamed from there (`collection.serving`: no WebAdMIT
call, so it works while WebAdMIT is down and after it forgot the file); any other mints a fresh WebAdMIT URL on every
visit, where what to ask WebAdMIT and whether to follow its answer is the engine's (`engine.downloads`). This is only
the HTTP side of both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from webadmit_dash.collection import serving
from webadmit_dash.collection.models import CollectedFile
from webadmit_dash.core.models import DownloadEvent, ExportFile, RunRequest, StatusChange
from webadmit_dash.engine import downloads, on_demand
from webadmit_dash.shared.http import AuthenticatedHttpRequest, login_required_htmx
from webadmit_dash.web import answers, common, file_lookup, freshness, listing, params, trail
from webadmit_dash.web.row_markup import RunAgain
from webadmit_dash.webadmit.statuses import FileStatus

# The file page lists this many downloads, newest first; the admin keeps them all.
DOWNLOADS_SHOWN = 20


@dataclass(frozen=True)
class Step:
    """One status the file was seen in, from when until the next one (or now, while it lasts)."""

    status: FileStatus
    raw_status: str
    at: datetime
    lasted: timedelta | None  # until the next status; None for the last one once the run has finished
    current: bool


def _timeline(changes: list[StatusChange], now: datetime) -> list[Step]:
    steps = []
    for index, change in enumerate(changes):
        status = FileStatus(change.new_status)
        following = changes[index + 1] if index + 1 < len(changes) else None
        if following is not None:
            lasted: timedelta | None = following.changed_at - change.changed_at
        else:
            lasted = None if status.is_finished else now - change.changed_at
        steps.append(Step(status, change.raw_status, change.changed_at, lasted, following is None))
    return steps


def _callback_words(export_file: ExportFile, now: datetime) -> SafeString:
    """Whether WebAdMIT was asked to call back about this run, and whether it did ("" when it was not asked)."""
    callback = listing.callbacks_of_runs([export_file.pk]).get(export_file.pk)
    words = listing.describe_callback(callback, not export_file.status_enum.is_finished, now)
    if callback is not None and not words:
        return SafeString("WebAdMIT was asked to call back when the run was ready; no call came")
    return words


@require_GET
@login_required
def file_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One file's whole story: every status we saw, with times, who started and downloaded it, and the other
    runs of its export. A file the user may not see is a 404, like everywhere.

    The number may also be WebAdMIT's file id, the one on the rows: it is sent on to the file's own address, or,
    when it could name several files, asked which one was meant."""
    found = file_lookup.find_file(request.user, pk)
    if found.file is None:
        return render(request, "files/which_file.html", {"number": pk, "candidates": found.candidates})
    if found.by_webadmit_id:
        query = f"?{request.GET.urlencode()}" if request.GET else ""
        return HttpResponseRedirect(reverse("file_detail", args=[found.file.pk]) + query)
    export_file = found.file
    identity = export_file.identity
    now = timezone.now()
    changes = list(export_file.status_changes.order_by("changed_at", "id"))
    siblings = list(export_file.export_runs().select_related("superseded_by").order_by("-webadmit_id"))
    started = RunRequest.objects.filter(run=export_file).select_related("user").order_by("created_at").first()
    downloads_seen = list(
        DownloadEvent.objects.filter(export_file=export_file).select_related("user")[:DOWNLOADS_SHOWN]
    )
    back = common.back_to(request, params.value(request.GET, "next"))
    name = export_file.title
    context = {
        "now": now,
        "file": export_file,
        "name": name,
        "identity": identity,
        "format_words": listing.format_words(export_file),
        "zips": list(export_file.zips.all()) if export_file.is_batch else [],
        "steps": _timeline(changes, now),
        "history_complete": bool(changes) and not changes[0].old_status,
        "siblings": siblings,
        "started": started,
        "callback": _callback_words(export_file, now),
        "downloads": downloads_seen,
        "stale_since": freshness.stale_since(identity, now, freshness.Cadence.current()),
        "back": back,
        "back_query": urlencode({"next": request.get_full_path()}),
        "current_path": request.get_full_path(),
        # What Run again's button (web/row_markup.py run_again_form) reads of a row.
        "run_again": RunAgain(
            pk=export_file.pk,
            label=listing.run_label(name, identity.display_name),
            kind=export_file.kind,
            run_again_url=reverse("run_again", args=[export_file.pk]),
        ),
        "retention_days": settings.WEBADMIT_RETENTION_DAYS,
        "trail": trail.of(export_file),
    }
    return render(request, "files/file.html", context)


@require_GET
@login_required
@never_cache
def download_file(request: AuthenticatedHttpRequest, pk: int) -> HttpResponseBase:
    """Our stable download address: the archived copy when there is one, else a fresh WebAdMIT URL the browser is
    sent straight to. A PDF Manager batch's documents are its zips: its one zip, or the list of them on its page."""
    export_file = common.get_file_for_user(request.user, pk)
    if export_file.is_batch:
        return _to_zips(request, export_file)
    archived = serving.archived_copy(export_file)
    return _served(request, export_file, archived, lambda: downloads.prepare_download(export_file, request.user))


@require_GET
@login_required
@never_cache
def download_zip(request: AuthenticatedHttpRequest, pk: int, part: int) -> HttpResponseBase:
    """Our stable address of one zip of a batch ("part 2 of 3"): its archived copy when collection kept one, else a
    fresh link from WebAdMIT (P6), followed at once."""
    export_file = common.get_file_for_user(request.user, pk)
    batch_zip = export_file.zips.filter(part=part).first() if export_file.is_batch else None
    if batch_zip is None:
        raise Http404("No such zip.")
    archived = serving.archived_zip(export_file, part)
    return _served(request, export_file, archived, lambda: downloads.prepare_zip_download(batch_zip, request.user))


def _served(
    request: AuthenticatedHttpRequest,
    export_file: ExportFile,
    archived: CollectedFile | None,
    prepare: Callable[[], downloads.DownloadAttempt],
) -> HttpResponseBase:
    """The archived copy when there is one (audited by `serving`), else WebAdMIT's fresh link (`prepare`, audited by
    the engine), followed at once; or the page saying why neither."""
    attempt: downloads.DownloadAttempt | serving.ArchiveRefused
    if archived is not None:
        try:
            return serving.serve(archived, request.user)
        except serving.ArchiveRefused as refused:
            attempt = refused
    else:
        attempt = prepare()
        if attempt.url is not None:
            return _redirect_to_link(attempt.url)
    return _refused(request, export_file, attempt)


def _to_zips(request: AuthenticatedHttpRequest, batch: ExportFile) -> HttpResponseBase:
    """A batch's Download: straight to its zip when it has one, else to its page's list of zips (where each is
    named part n of m), or the page saying why there are none yet."""
    parts = batch.zips.count()
    if parts == 1:
        return HttpResponseRedirect(reverse("download_zip", args=[batch.pk, 1]))
    return HttpResponseRedirect(reverse("file_detail", args=[batch.pk]) + "#zips")


def _redirect_to_link(url: str) -> HttpResponseRedirect:
    redirect = HttpResponseRedirect(url)
    # The URL is a short-lived bearer credential: keep it out of caches and out of the next site's Referer.
    redirect["Referrer-Policy"] = "no-referrer"
    return redirect


def _refused(
    request: AuthenticatedHttpRequest,
    export_file: ExportFile,
    attempt: downloads.DownloadAttempt | serving.ArchiveRefused,
) -> HttpResponse:
    # Back to the list as it was (its filters), which the Download link passed along.
    back = common.back_to(request, params.value(request.GET, "next"))
    response = render(
        request,
        "files/download_error.html",
        {
            "file": export_file,
            "attempt": attempt,
            "now": timezone.now(),
            "back": back,
            "back_label": "Back to the file's page" if back.startswith("/files/") else "Back to Recent Files",
            "back_query": urlencode({"next": back}),
        },
        status=attempt.http_status,
    )
    if attempt.retry_after:
        response["Retry-After"] = str(int(attempt.retry_after) + 1)
    return response


@require_POST
@login_required_htmx
def acknowledge_file(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Acknowledge a failure (or take it back): it stops needing attention, keeping who and when."""
    export_file = common.get_file_for_user(request.user, pk)
    undo = request.POST.get("undo") == "1"
    name = export_file.export_name
    if on_demand.acknowledge_failure(export_file, request.user, undo=undo):
        if undo:
            messages.info(request, f"File {export_file.webadmit_id} of {name} needs attention again.")
        else:
            messages.success(request, f"Failure of {name} (file {export_file.webadmit_id}) acknowledged.")
    else:
        messages.info(
            request, f"File {export_file.webadmit_id} of {name} has not failed: there is nothing to acknowledge."
        )
    return answers.files_changed(answers.after_action(request))


@require_POST
@login_required_htmx
def deliver_again(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Deliver again: a new round to each destination the file went to, replayed from the archive (the dispatcher
    sends it within COLLECT_EVERY seconds). htmx gets the trail with the new rounds, and the messages out of band."""
    export_file = common.get_file_for_user(request.user, pk)
    answer = trail.deliver_again(export_file, request.user)
    if answer.refused:
        messages.error(request, answer.message)
    elif answer.rounds:
        messages.success(request, answer.message)
    else:
        messages.info(request, answer.message)
    response = answers.after_action(request)
    if not request.htmx:
        return response
    current_path = request.htmx.current_url_abs_path or reverse("file_detail", args=[export_file.pk])
    context = {"file": export_file, "trail": trail.of(export_file), "now": timezone.now(), "current_path": current_path}
    fragment = render_to_string("files/file.html#trail", context, request)
    response.content = fragment.encode() + response.content
    return answers.files_changed(response)
