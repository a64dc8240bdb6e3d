"""The unchanged poll, answered before Django's request path: 204, from what this process already knows.

A Recent Files tab asks every few seconds whether anything changed (web/views/recent.py, poll_files), and nearly
always nothing did. Through the whole request path that answer cost the web server 4-6 ms of CPU, mostly Django's
own work for any request (the session and the user read from the database, every middleware), not the answer: two
thousand open tabs saturated two cores (issue 24). Here a poll is answered 204 with one plain query when this
process already knows what the full path would check:

- the session is signed in: the full path (Django's own sign-in, never repeated or copied here) vouched for this
  session cookie within SESSION_SECONDS, for this user;
- nothing changed since: the full path read the user's version (core.access.visible_version) when the change
  counter (core.models.ChangeCounter, which numbers every change) stood where it stands now, and that version is
  the page's. The counter is read on every poll, so a change is never answered 204: no staleness;
- the time signature (web/time_signature.py) is the page's.

Otherwise the poll goes the full path, which answers and refreshes what this process knows (once per change and
user, whatever the number of tabs). What this trades: for SESSION_SECONDS after signing out elsewhere (or being
disabled), a stolen cookie could still learn "nothing changed" from another process (a 204 carries nothing else;
any answer with data goes the full path; this process forgets a session at its sign-out). Each process knows only
what it saw itself (the default cache is per process): nothing is shared, nothing can be poisoned from elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from webadmit_dash.core.models import ChangeCounter
from webadmit_dash.web import params, time_signature

SESSION_SECONDS = 10


def _session_key(cookie: str) -> str:
    # The cookie itself is a credential: only its hash is kept, as a cache key.
    return "poll-gate:session:" + hashlib.sha256(cookie.encode()).hexdigest()


def _version_key(user_id: int) -> str:
    return f"poll-gate:version:{user_id}"


def counter() -> int:
    """Read before the version it vouches for: a change committed between the two then moves the counter past the
    remembered value, and the next poll goes the full path."""
    return ChangeCounter.current()


def remember(request: HttpRequest, user_id: int, counter_value: int, version: int) -> None:
    """What the full path established: the session is this user's, and their version when the counter stood at
    `counter_value`."""
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if cookie:
        cache.set(_session_key(cookie), user_id, SESSION_SECONDS)
    cache.set(_version_key(user_id), (counter_value, version), SESSION_SECONDS)


def forget(cookie: str) -> None:
    """The session ended here (sign-out): this process stops answering for it at once."""
    cache.delete(_session_key(cookie))


def unchanged(request: HttpRequest) -> bool:
    """Whether this poll can be answered 204 from what this process already knows (see the module's docstring)."""
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not cookie:
        return False
    user_id = cache.get(_session_key(cookie))
    if user_id is None:
        return False
    known = cache.get(_version_key(user_id))
    if known is None or params.integer(request.GET, "since", -1, minimum=-1) != known[1]:
        return False
    if params.text(request.GET, "sig", max_length=20) != time_signature.current(timezone.now()):
        return False
    return bool(counter() == known[0])


class PollGateMiddleware:
    """Answers the unchanged poll (see `unchanged`) before the rest of the request path; passes everything else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.poll_path = ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.poll_path:
            self.poll_path = reverse("poll_files")
        if (
            request.path_info == self.poll_path
            and request.method == "GET"
            and request.headers.get("HX-Request") == "true"
            and unchanged(request)
        ):
            # The headers the full path's 204 carries: never stored (NoStoreMiddleware, never_cache), keyed on htmx.
            response = HttpResponse(status=204)
            add_never_cache_headers(response)
            patch_vary_headers(response, ("HX-Request",))
            return response
        return self.get_response(request)
