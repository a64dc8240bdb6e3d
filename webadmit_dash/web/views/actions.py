"""Refresh now and Run again: the two buttons that ask for something, and the answer both give.

An htmx request gets the messages (and the freshness strip) out of band; a plain form post goes back to its page.
Run again asks first: app.js opens a dialog, and without JavaScript its button leads to a confirmation page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from webadmit_dash.engine import on_demand
from webadmit_dash.shared.http import AuthenticatedHttpRequest, login_required_htmx
from webadmit_dash.web import common, freshness, params
from webadmit_dash.web.freshness import SOURCES_SHOWN
from webadmit_dash.web.views.identities import IDENTITIES_CHANGED_EVENT
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
    response = after_action(request)
    if request.htmx:
        # The Identities page's table re-fetches on this at once, to show "refreshing…" (or why not). Raised on
        # <body> rather than on the form that asked: a poll of the table may have swapped that form out meanwhile.
        trigger_client_event(response, IDENTITIES_CHANGED_EVENT, {"target": "body"})
    return response


# Raised on <body> by answers that change files the page shows: the Recent Files poller then polls at once.
FILES_CHANGED_EVENT = "files-changed"


@require_http_methods(["GET", "POST"])
@login_required_htmx
def run_again(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Run again: ask WebAdMIT (E4) for a new run of this file's export. The run is stored at once, and the page
    that asked polls at once, which lists the user's own new run at the top.

    A GET is the question (the confirmation page, for browsers without JavaScript; app.js asks in a dialog and
    posts here directly); a POST starts the run.
    """
    export_file = common.get_file_for_user(request.user, pk)
    name = export_file.export.name if export_file.export else f"export {export_file.export_webadmit_id}"
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
        return after_action(request)
    run = started.run
    if started.already_known:
        messages.info(request, f"{name} is already running as file {run.id} ({run.status.label}).")
    else:
        messages.success(request, f"WebAdMIT is running {name} as file {run.id} ({run.status.label}).")
    return files_changed(after_action(request))


def files_changed(response: HttpResponse) -> HttpResponse:
    """Tells the page that asked (by htmx) that files changed, so its poller asks for them at once."""
    return trigger_client_event(response, FILES_CHANGED_EVENT, {"target": "body"})


def after_action(request: AuthenticatedHttpRequest) -> HttpResponse:
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
            identities = common.identities(request.user)
            context.update(sources=freshness.sources(identities, now, SOURCES_SHOWN), identity_count=len(identities))
        return render(request, "files/recent.html#action_update", context)
    return HttpResponseRedirect(common.back_to(request, request.POST.get("next")))
