"""The one exception family for everything that can go wrong talking to WebAdMIT.

Each error says whether retrying can help (`permanent`), carries a machine name (`kind`) to store on the
credential or identity, and a `message` written for the person who has to act on it. Messages name the
credential, never the API key.
"""

from __future__ import annotations

from typing import ClassVar


class WebAdmitError(Exception):
    """Base class: a failed WebAdMIT call, with a message fit to show on a page."""

    permanent: ClassVar[bool] = False
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class KeyRejected(WebAdmitError):
    """The key was refused (401, or a 403 that is not the rate limit): retrying the same key cannot help."""

    permanent = True
    kind = "key_rejected"


class NotFound(WebAdmitError):
    """WebAdMIT does not know the identity, export or file (404); `upstream_message` is its own words."""

    permanent = True
    kind = "not_found"

    def __init__(self, message: str, *, upstream_message: str | None = None, status_code: int | None = 404) -> None:
        super().__init__(message, status_code=status_code)
        self.upstream_message = upstream_message


class RequestRejected(WebAdmitError):
    """WebAdMIT refused the request itself (422, other 4xx, a redirect): repeating it will fail again.
    `upstream_message` is its own words when it gave some (a 422's schema errors, flattened to one line), such as
    why a PDF Manager batch's callback was refused."""

    permanent = True
    kind = "request_rejected"

    def __init__(self, message: str, *, upstream_message: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.upstream_message = upstream_message


class RateLimited(WebAdmitError):
    """The hourly call budget is spent (429, or 403 with none remaining); `retry_after` in seconds or None."""

    permanent = False
    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, status_code: int | None = 429) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class UpstreamUnavailable(WebAdmitError):
    """WebAdMIT could not be reached or failed on its side (5xx, timeout, refused connection, TLS error)."""

    permanent = False
    kind = "unavailable"


class BadResponse(WebAdmitError):
    """WebAdMIT answered 2xx with something we cannot read (not JSON, wrong shape, a required field missing).

    Transient: in practice this is a half-written or proxied response, and the next call usually reads fine.
    """

    permanent = False
    kind = "bad_response"
