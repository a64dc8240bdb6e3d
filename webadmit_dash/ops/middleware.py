"""Answers /healthz, /readyz and /metrics before anything else runs.

Probes and scrapers reach a web process by its own address (`http://10.0.3.7:8000/readyz`), a host name that is
not in ALLOWED_HOSTS and over plain http: host validation would answer 400 and the https redirect 301. Neither
protects anything here (these answers contain no links and no secrets, and /metrics has its own allow-list), so
these three paths are served first, with no session, no user, and no database query unless the check needs one.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils.cache import add_never_cache_headers

from webadmit_dash.ops import views

ROUTES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": views.healthz,
    "/readyz": views.readyz,
    "/metrics": views.metrics_view,
}


class OpsEndpointsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        view = ROUTES.get(path[:-1] if path.endswith("/") else path)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        response = view(request)
        add_never_cache_headers(response)
        response["X-Content-Type-Options"] = "nosniff"
        return response
