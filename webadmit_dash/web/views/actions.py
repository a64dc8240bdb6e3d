"""Refresh now and Run again: the two buttons that ask for something, and the answer both give.

Both answer alike (web/answers.py): an htmx request gets the messages (and the freshness strip) out of band; a plain
form post goes back to its page. Run again asks first: app.js opens a dialog, and without JavaScript its button
leads to a confirmation page.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from webadmit_dash.engine import on_demand
from webadmit_dash.shared.http import AuthenticatedHttpRequest, login_required_htmx
from webadmit_dash.web import answers, common, params
from webadmit_dash.webadmit.errors import WebAdmitError


@require_POST
@login_required_htmx
def refresh_now(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Refresh now: queue an immediate refresh of one identity (the engine refuses duplicates and paused ones)."""
    identity = common.get_identity_for_user(request.user, pk)
    if on_demand.request_refresh(identity):
        messages.success(request, f"Refreshing {identity.display_name}: changes appear here in a few seconds.")
    elif identity.paused:
        messages.warning(
            request,
            f"{identity.display_name} is paused until its problem is fixed "
            f"({identity.get_error_kind_display() if identity.error_kind else 'see the banner'}).",
        )
    else:
        messages.info(request, f"{identity.display_name} is already being refreshed.")
    response = answers.after_action(request)
    return answers.identities_changed(response) if request.htmx else response


@require_http_methods(["GET", "POST"])
@login_required_htmx
def run_again(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Run again: ask WebAdMIT (E4) for a new run of this file's export, or (P3) a new batch of a batch's template.
    The run is stored at once, and the page
    that asked polls at once, which lists the user's own new run at the top.

    A GET is the question (the confirmation page, for browsers without JavaScript; app.js asks in a dialog and
    posts here directly); a POST starts the run.
    """
    export_file = common.get_file_for_user(request.user, pk)
    name = export_file.title
    if request.method == "GET":
        back = common.back_to(request, params.value(request.GET, "next"))
        return render(
            request,
            "files/run_again.html",
            {"file": export_file, "name": name, "back": back, "now": timezone.now()},
        )
    try:
        started = on_demand.start_run(export_file, request.user)
    except WebAdmitError as error:
        messages.error(request, f"Could not start {name}: {error.message}")
        return answers.after_action(request)
    run = started.run
    if export_file.is_batch:
        messages.success(request, f"WebAdMIT is making a new batch of {name} as batch {run.id} ({run.status.label}).")
    elif started.already_known:
        messages.info(request, f"{name} is already running as file {run.id} ({run.status.label}).")
    else:
        messages.success(request, f"WebAdMIT is running {name} as file {run.id} ({run.status.label}).")
    return answers.files_changed(answers.after_action(request))
