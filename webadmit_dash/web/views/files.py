"""A file's own addresses: Download, our stable address that mints a fresh WebAdMIT URL on every visit.

What to ask WebAdMIT and whether to follow its answer is the engine's (`engine.downloads`); this is only the HTTP
side of it.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from webadmit_dash.engine import downloads
from webadmit_dash.web import common
from webadmit_dash.web.common import AuthenticatedHttpRequest


@require_GET
@login_required
@never_cache
def download_file(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Our stable download address: mint a fresh WebAdMIT URL and send the browser straight to it."""
    export_file = common.get_file_for_user(request.user, pk)
    attempt = downloads.prepare_download(export_file, request.user)
    if attempt.url is not None:
        redirect = HttpResponseRedirect(attempt.url)
        # The URL is a short-lived bearer credential: keep it out of caches and out of the next site's Referer.
        redirect["Referrer-Policy"] = "no-referrer"
        return redirect
    response = render(
        request,
        "files/download_error.html",
        {"file": export_file, "attempt": attempt, "now": timezone.now()},
        status=attempt.http_status,
    )
    if attempt.retry_after:
        response["Retry-After"] = str(int(attempt.retry_after) + 1)
    return response
