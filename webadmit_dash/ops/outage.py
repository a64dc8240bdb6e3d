"""While the database is not answering, every page, poll and API call answers 503 in words, with Retry-After.

Without this, a PostgreSQL outage turned each request into an instant 500 "Something went wrong on our side",
which tells nobody to wait. The database is reached from many places (the session in middleware, the user, the
view), and Django turns an exception raised in any of them into a 500 response before an outer middleware could
catch it; so a receiver of `got_request_exception` marks the request when the exception is the database being
unreachable, and the middleware, outside all the others, answers for it. Nothing here touches the database. The
web process recovers by itself: Django closes a connection that failed at the end of its request, and the next
request connects again.

Each web process logs one line when the database stops answering and one when it answers again, rather than
Django's traceback for every request meanwhile (HideDatabaseOutages, on the django.request logger).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.cache import add_never_cache_headers

RETRY_AFTER = 15  # seconds: the page's own refresh, and what the API and the poller are told to wait
PAGE_WORDS = "The database is not answering; this page will retry."
API_WORDS = "The database is not answering; try again in a moment."
_MARK = "_webadmit_database_unreachable"
logger = logging.getLogger(__name__)


def is_database_unreachable(error: BaseException | None) -> bool:
    """Whether an exception means the database cannot be reached, rather than a query that failed (a lock timeout,
    a deadlock: a 500 as before). Connection-level: the connection is gone, or could not be made."""
    if isinstance(error, InterfaceError):
        return True  # a connection already closed
    if not isinstance(error, OperationalError):
        return False
    return any(_lost(wrapper.connection) for wrapper in connections.all(initialized_only=True))


def _lost(raw: Any) -> bool:
    # None: connecting failed. psycopg marks a connection the server dropped as closed or broken.
    return raw is None or bool(getattr(raw, "closed", False)) or bool(getattr(raw, "broken", False))


def _note_unreachable_database(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    error = sys.exc_info()[1]
    if request is not None and is_database_unreachable(error):
        # The class says enough to start looking; the text of a connection error can carry a host or a password.
        setattr(request, _MARK, type(error).__name__)


got_request_exception.connect(_note_unreachable_database, dispatch_uid="webadmit_dash.ops.outage")


class DatabaseOutageMiddleware:
    """Outside every middleware that may reach the database: replaces the 500 of a request that failed because the
    database is unreachable by a 503 that says so."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        error = getattr(request, _MARK, None)
        if error is not None:
            _outage.started(error)
            return outage_response(request)
        if _outage.since is not None:
            _outage.ended()
        return response


class _Outage:
    """This process's view of the database: since when it has not answered, for one log line at each end."""

    def __init__(self) -> None:
        self.since: float | None = None
        self._lock = threading.Lock()

    def started(self, error: str) -> None:
        with self._lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        logger.error(
            "The database is not answering (%s): pages, polls and the API answer 503 until it does; "
            "this process says so here when it answers again.",
            error,
        )

    def ended(self) -> None:
        with self._lock:
            if self.since is None:
                return
            lasted, self.since = time.monotonic() - self.since, None
        logger.warning("The database answers again after %.0f s: pages are served as usual.", lasted)


_outage = _Outage()


class HideDatabaseOutages(logging.Filter):
    """Drops Django's "Internal Server Error" traceback of a request the database outage answered: the outage is
    logged once (DatabaseOutageMiddleware), not once per page, poll and API call while it lasts."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and is_database_unreachable(record.exc_info[1]))


def outage_response(request: HttpRequest) -> HttpResponse:
    """JSON on the API, plain words for htmx (app.js shows them and polls more slowly), else a page that reloads."""
    if request.path_info.startswith("/api/"):
        response = HttpResponse(json.dumps({"detail": API_WORDS}), content_type="application/json", status=503)
    elif request.headers.get("HX-Request") == "true":
        response = HttpResponse(PAGE_WORDS, content_type="text/plain; charset=utf-8", status=503)
    else:
        # Rendered without the request: its context processors would ask the database for the user.
        html = loader.render_to_string("503.html", {"words": PAGE_WORDS, "retry_after": RETRY_AFTER})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    add_never_cache_headers(response)
    return response
