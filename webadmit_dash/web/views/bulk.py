"""The Recent Files bulk bar's buttons: Acknowledge, Run again and Download as zip for the selected rows (or every
file the filters match).

Each is a POST with the page's CSRF token and the selection (`web.bulk.Selection`, checked against what the user may
see). Acknowledge and Run again answer as the row buttons do (`answers`: messages out of band for htmx, back to the
page otherwise); Run again asks first, naming how many runs it would start. The zip is a plain form post answered
with the zip itself, or with the page and a message when it is refused.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from webadmit_dash.engine import batches, on_demand
from webadmit_dash.shared.http import AuthenticatedHttpRequest, login_required_htmx
from webadmit_dash.web import answers, bulk, bulk_zip, common, params
from webadmit_dash.web.bulk import MAX_FILES, MAX_FILES_PER_ZIP, Selection
from webadmit_dash.webadmit.errors import WebAdmitError

# Raised on <body> once a bulk action is done: the page's bulk bar clears its selection.
BULK_DONE_EVENT = "bulk-done"
# The exports a Run again question names; more are counted.
NAMES_SHOWN = 8


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _answer(request: AuthenticatedHttpRequest, *, done: bool) -> HttpResponse:
    response = answers.after_action(request)
    if not done:
        return response
    response = answers.files_changed(response)
    return trigger_client_event(response, BULK_DONE_EVENT, {"target": "body"}) if request.htmx else response


def _refused(request: AuthenticatedHttpRequest, selection: Selection, cap: int, what: str) -> bool:
    """Says why nothing can be done with this selection (and True), or False when there are files to act on."""
    if selection.too_many(cap):
        messages.error(request, bulk.too_many_words(selection.matching, cap, what))
    elif not selection.files:
        messages.info(request, "No file is selected that you can see." + bulk.unseen_words(selection.unseen))
    else:
        return False
    return True


@require_POST
@login_required_htmx
def bulk_acknowledge(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Acknowledge every selected failure not yet handled; the others are skipped, and the message says why."""
    selection = Selection.from_post(request.user, request.POST, cap=MAX_FILES)
    if _refused(request, selection, MAX_FILES, "Acknowledge"):
        return _answer(request, done=False)
    outcome = bulk.acknowledge(selection.files, request.user)
    words = f"{_plural(len(outcome.done), 'failure')} acknowledged."
    words += outcome.skipped_words() + bulk.unseen_words(selection.unseen)
    (messages.success if outcome.done else messages.info)(request, words)
    return _answer(request, done=True)


@require_POST
@login_required_htmx
def bulk_run_again(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Run again for the selected files' exports: without `confirm`, the question (how many runs, which exports,
    what is skipped and why, or that the budget would not allow them); with it, one run per export, each started,
    audited and counted as its row's Run again would be, after the whole batch was checked against the budget."""
    selection = Selection.from_post(request.user, request.POST, cap=MAX_FILES)
    if _refused(request, selection, MAX_FILES, "Run again"):
        return _answer(request, done=False)
    plan = bulk.runs_to_start(selection.files)
    runs = plan.done
    if not runs:
        messages.info(request, "None of the selected files can be run again." + plan.skipped_words())
        return _answer(request, done=False)
    room = batches.room(bulk.calls_by_credential(runs), request.user)
    what = _plural(len(runs), "run")
    if not params.flag(request.POST, "confirm"):
        return _question(request, selection, plan, room.refusal(what) if not room.enough else "")
    if not room.enough:
        messages.error(request, room.refusal(what))
        return _answer(request, done=False)
    started, failures = 0, []
    for export_file in runs:
        try:
            on_demand.start_run(export_file, request.user)
        except WebAdmitError as error:
            failures.append(f"{export_file.export_name}: {error.message}")
        else:
            started += 1
    words = f"WebAdMIT is running {_plural(started, 'export')} again; the new runs are listed at the top."
    if not started:
        words = "No run could be started."
    if failures:
        words += f" {_plural(len(failures), 'run')} could not be started: " + "; ".join(failures)
    words += plan.skipped_words() + bulk.unseen_words(selection.unseen)
    (messages.success if started and not failures else messages.warning)(request, words)
    return _answer(request, done=True)


def _question(
    request: AuthenticatedHttpRequest, selection: Selection, plan: bulk.Outcome, refusal: str
) -> HttpResponse:
    """The confirmation, in the page's dialog for htmx or as a page of its own without JavaScript; its form sends
    the same selection again (read and checked again then)."""
    runs = plan.done
    context: dict[str, Any] = {
        "runs": runs,
        "run_count": len(runs),
        "names": [f"{run.export_name} ({run.identity.display_name})" for run in runs[:NAMES_SHOWN]],
        "more": max(len(runs) - NAMES_SHOWN, 0),
        "skipped": plan.skipped_words().strip(),
        "unseen": bulk.unseen_words(selection.unseen).strip(),
        "refusal": refusal,
        "all": params.flag(request.POST, "all"),
        "filters": params.value(request.POST, "filters") or "",
        "ids": [export_file.pk for export_file in selection.files],
        "back": common.back_to(request, request.POST.get("next")),
        "now": timezone.now(),
    }
    template = "files/bulk_run_again.html#question" if request.htmx else "files/bulk_run_again.html"
    return render(request, template, context)


@require_POST
@login_required_htmx
@never_cache
def bulk_download(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """Download as zip: every selected file and an index CSV, streamed; or back to the page with why not."""
    selection = Selection.from_post(request.user, request.POST, cap=MAX_FILES_PER_ZIP)
    back = common.back_to(request, request.POST.get("next"))
    if _refused(request, selection, MAX_FILES_PER_ZIP, "a zip"):
        return HttpResponseRedirect(back)
    entries = bulk_zip.plan(selection.files)
    calls = bulk.calls_by_credential([entry.export_file for entry in entries if entry.needs_call])
    room = batches.room(calls, request.user)
    if not room.enough:
        what = _plural(room.needed, "download") + " from WebAdMIT"
        messages.error(request, room.refusal(what, "Nothing was downloaded."))
        return HttpResponseRedirect(back)
    return bulk_zip.response(entries, request.user, timezone.now())
