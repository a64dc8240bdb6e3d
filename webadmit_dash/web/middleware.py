"""Cross-cutting request handling: caching hygiene (htmx, signed-in pages), each user's time zone, and the admin's
query guard."""

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from webadmit_dash.shared.templatetags.display import activate_clock_only
from webadmit_dash.web import params
from webadmit_dash.web.signals import CLOCK_ONLY_SESSION_KEY


class HtmxVaryMiddleware:
    """Fragments and full pages share URLs, so caches must key on HX-Request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response


class NoStoreMiddleware:
    """A signed-in person's pages and fragments are never stored: not by a shared proxy, and not in the browser's
    cache, where the next person at a shared computer could open them (Back, history) after sign-out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # request.user was loaded by the view that answered (sign-in is checked on every page), so asking costs
        # no query; a request that never got that far has no user and nothing of anyone's to store.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


class UserTimezoneMiddleware:
    """Shows times in the user's preferred zone, else the institution's (settings.TIME_ZONE); and as clock times only
    for who asked for that (UserPreference.absolute_times)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Only the session is read, never request.user: loading the user here would cost every request a query,
        # the unchanged poll included. The key is written at sign-in and goes with the session at sign-out.
        session = getattr(request, "session", None)
        zone_name = session.get("time_zone", "") if session is not None else ""
        if zone_name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(zone_name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        # Set on every request, off included: a server thread serves one user after another.
        activate_clock_only(bool(session.get(CLOCK_ONLY_SESSION_KEY)) if session is not None else False)
        return self.get_response(request)


class AdminQueryGuardMiddleware:
    """Refuses, with a 400 that says why, the admin queries that would crash Django's admin (see
    `params.admin_query_problem`); our own pages parse their query strictly themselves (`params`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.admin_prefix = ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.admin_prefix:
            self.admin_prefix = reverse("admin:index")
        if request.GET and request.path.startswith(self.admin_prefix):
            problem = params.admin_query_problem(request.GET)
            if problem:
                return render(request, "400.html", {"problem": problem}, status=400)
        return self.get_response(request)
