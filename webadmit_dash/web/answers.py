"""How the pages answer a button: the messages (and the freshness strip) out of band for htmx, a redirect for a
plain form post, and the events that tell the page to fetch what changed at once.

Their own module so that every view answers alike without importing another view.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import trigger_client_event

from webadmit_dash.shared.http import AuthenticatedHttpRequest
from webadmit_dash.web import common, freshness
from webadmit_dash.web.freshness import SOURCES_SHOWN

# Raised on <body> by answers that change files the page shows: the Recent Files poller then polls at once.
FILES_CHANGED_EVENT = "files-changed"
# Raised on <body> by Refresh now: the Identities page's table re-fetches at once, to show "refreshing…" (or why not).
IDENTITIES_CHANGED_EVENT = "identities-changed"


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


def identities_changed(response: HttpResponse) -> HttpResponse:
    """Tells the Identities page (by htmx) to re-fetch its table. On <body> rather than on the form that asked: a
    poll of the table may have swapped that form out meanwhile."""
    return trigger_client_event(response, IDENTITIES_CHANGED_EVENT, {"target": "body"})
