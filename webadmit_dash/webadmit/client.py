"""The one seam for outbound HTTP to WebAdMIT (API v1): a small client that returns typed values or raises one
exception of the `WebAdmitError` family.

The client never retries and never sleeps: the scheduler owns retry timing and the hourly call budget, and it
reads `rate_limit` after each call to do so.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from importlib.metadata import version
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import pdf_manager
from .errors import (
    BadResponse,
    KeyRejected,
    NotFound,
    RateLimited,
    RequestRejected,
    UpstreamUnavailable,
    WebAdmitError,
)
from .parsing import ShapeError, as_object, integer, items, optional_text, required, text
from .statuses import parse_status
from .types import (
    DownloadLink,
    Export,
    ExportFile,
    PdfManagerBatch,
    PdfManagerTemplate,
    PdfManagerZipLink,
    RateLimit,
    UserIdentity,
)

logger = logging.getLogger(__name__)

# The installed distribution's version (pyproject.toml), read without importing the product: this package stays
# usable, and tested, on its own.
USER_AGENT = f"webadmit-dash/{version('webadmit-dash')} (+https://github.com/webadmit-dash)"
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 20.0)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

T = TypeVar("T")

# Called after every call to WebAdMIT with (endpoint, status, seconds): the SPEC's endpoint name (E1-E7; P1-P6 for
# PDF Manager's, which the SPEC lists unnumbered: templates, one template, start a batch, batches, one batch, a zip's
# link), the HTTP status as text ("no_response" when none came), and how long it took. The product's metrics
# subscribe here (see ops.metrics), so that calls are counted where they happen, in web and worker processes alike,
# with no Django here.
CallObserver = Callable[[str, str, float], None]
_call_observers: list[CallObserver] = []


def observe_calls(observer: CallObserver) -> None:
    """Subscribes `observer` to every call made by any client in this process (once per observer)."""
    if observer not in _call_observers:
        _call_observers.append(observer)


def _notify(endpoint: str, status: str, seconds: float) -> None:
    for observer in _call_observers:
        try:
            observer(endpoint, status, seconds)
        except Exception:
            # Counting a call must never fail it.
            logger.exception("A WebAdMIT call observer failed")


def make_session(pool_maxsize: int = 20) -> requests.Session:
    """A pooled session without automatic retries; share one between clients to share connections."""
    session = requests.Session()
    # The API authenticates by header alone. Refusing cookies keeps one credential's cookies from riding along
    # on another credential's calls when clients share this session.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class WebAdmitClient:
    """Calls WebAdMIT for one credential (one API key, which covers all of its user's identities).

    Safe to share between threads: the session pools connections; the two counters update under a lock.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        credential_name: str = "WebAdMIT",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credential_name = credential_name
        self.timeout = timeout
        self.rate_limit: RateLimit | None = None
        self.calls_made = 0
        # Keys pasted from e-mails often carry a trailing newline, which requests would refuse to send.
        self.__api_key = _Secret(api_key.strip())
        self._owns_session = session is None
        # The key goes on each request, not on the session: a session may be shared by several credentials.
        self._session = session if session is not None else make_session()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<WebAdmitClient credential={self.credential_name!r} base_url={self.base_url!r}>"

    def close(self) -> None:
        """Release pooled connections, unless the session was lent to us."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- The calls (numbered as in SPEC.md) -----------------------------------------------------------------

    def list_user_identities(self) -> list[UserIdentity]:
        """E1 `GET /api/v1/user_identities`: every identity this key may use through the API."""
        return self._call("E1", "GET", "/api/v1/user_identities", _identities_from)

    def list_all_exports(self) -> list[Export]:
        """E2 `GET /api/v1/exports`: the exports of all identities (items do not say which identity)."""
        return self._call("E2", "GET", "/api/v1/exports", _exports_from)

    def list_exports(self, identity_id: int) -> list[Export]:
        """E3 `GET /api/v1/user_identities/:uid/exports`: one identity's exports, where names come from."""
        return self._call("E3", "GET", f"/api/v1/user_identities/{identity_id:d}/exports", _exports_from)

    def list_export_files(self, identity_id: int) -> list[ExportFile]:
        """E6 `GET /api/v1/user_identities/:uid/export_files`: the batch status of recent runs (no URLs)."""
        return self._call("E6", "GET", f"/api/v1/user_identities/{identity_id:d}/export_files", _files_from)

    def list_export_runs(self, identity_id: int, export_id: int) -> list[ExportFile]:
        """E7 `GET /api/v1/user_identities/:uid/exports/:eid/export_files`: the runs of one export."""
        path = f"/api/v1/user_identities/{identity_id:d}/exports/{export_id:d}/export_files"
        return self._call("E7", "GET", path, _files_from)

    def start_export_run(self, identity_id: int, export_id: int, *, callback: str | None = None) -> ExportFile:
        """E4 `POST .../exports/:eid/export_files`: start a run, or get the unfinished one already running.

        `callback`: a URL WebAdMIT form-POSTs to when the file is ready (sent in the JSON body, as the SPEC allows,
        so it stays out of access logs that record query strings)."""
        path = f"/api/v1/user_identities/{identity_id:d}/exports/{export_id:d}/export_files"
        body = {"callback": callback} if callback else None
        return self._call("E4", "POST", path, _single_file_from, body=body)

    def get_download_link(self, export_id: int, file_id: int) -> DownloadLink:
        """E5 `GET /api/v1/exports/:eid/export_files/:fid`: the file's status and a freshly minted URL.

        The URL lives for less than 30 seconds and `url` is None while the file is not downloadable.
        `minted_at` is taken before the request is sent, so expiry computed from it errs on the safe side.
        """
        minted_at = datetime.now(UTC)
        path = f"/api/v1/exports/{export_id:d}/export_files/{file_id:d}"
        return self._call("E5", "GET", path, lambda payload: _download_link_from(payload, minted_at))

    # --- PDF Manager (the SPEC's "PDF Manager"; P1-P6 are our names for its calls, in the SPEC's order) ------------

    def list_pdf_manager_templates(self, identity_id: int) -> list[PdfManagerTemplate]:
        """P1 `GET /api/v1/user_identities/:uid/pdf_manager_templates`: the identity's templates (read-only)."""
        path = f"/api/v1/user_identities/{identity_id:d}/pdf_manager_templates"
        return self._call("P1", "GET", path, pdf_manager.templates_from)

    def get_pdf_manager_template(self, identity_id: int, template_id: int) -> PdfManagerTemplate:
        """P2 `GET /api/v1/user_identities/:uid/pdf_manager_templates/:id`: one template."""
        path = f"/api/v1/user_identities/{identity_id:d}/pdf_manager_templates/{template_id:d}"
        return self._call("P2", "GET", path, pdf_manager.template_from)

    def start_pdf_manager_batch(
        self, identity_id: int, template_id: int, *, callback: str | None = None
    ) -> PdfManagerBatch:
        """P3 `POST /api/v1/user_identities/:uid/pdf_manager_batches`: start a batch of the template's documents.

        The body is the documented `{"pdf_manager_batch": {"pdf_manager_template_id": N, "callback": URL}}`.
        `callback`: a URL WebAdMIT POSTs the batch to (JSON, as `get_pdf_manager_batch` reads it) when it is done.
        WebAdMIT takes only `https://` callbacks: any other is refused with a 422, raised as RequestRejected whose
        `upstream_message` holds WebAdMIT's words. Nothing is checked here, so that WebAdMIT's rule stays its own."""
        path = f"/api/v1/user_identities/{identity_id:d}/pdf_manager_batches"
        batch: dict[str, Any] = {"pdf_manager_template_id": template_id}
        if callback:
            batch["callback"] = callback
        return self._call("P3", "POST", path, pdf_manager.batch_from, body={"pdf_manager_batch": batch})

    def list_pdf_manager_batches(self, identity_id: int) -> list[PdfManagerBatch]:
        """P4 `GET /api/v1/user_identities/:uid/pdf_manager_batches`: the identity's batches and their states.
        WebAdMIT lists no `download_hrefs` here (each batch's are None): ask `get_pdf_manager_batch` for them."""
        path = f"/api/v1/user_identities/{identity_id:d}/pdf_manager_batches"
        return self._call("P4", "GET", path, pdf_manager.batches_from)

    def get_pdf_manager_batch(self, identity_id: int, batch_id: int) -> PdfManagerBatch:
        """P5 `GET /api/v1/user_identities/:uid/pdf_manager_batches/:id`: one batch with its `download_hrefs`."""
        path = f"/api/v1/user_identities/{identity_id:d}/pdf_manager_batches/{batch_id:d}"
        return self._call("P5", "GET", path, pdf_manager.batch_from)

    def get_pdf_manager_zip_link(self, identity_id: int, zip_file_id: int) -> PdfManagerZipLink:
        """P6 `GET /api/v1/user_identities/:uid/pdf_manager_zip_files/:id/download`: where one of a batch's zips
        can be fetched, read from WebAdMIT's 302 without following it (following it would carry the API key to the
        storage host). The link needs no key (`download.open_download` fetches it) and is short-lived: use it at
        once, never store it."""
        minted_at = datetime.now(UTC)
        path = f"/api/v1/user_identities/{identity_id:d}/pdf_manager_zip_files/{zip_file_id:d}/download"
        response = self._send("P6", "GET", path, redirect_expected=True)
        url = _redirect_target(response, f"{self.base_url}{path}")
        if url is None:
            raise self._bad_response(
                f"without a redirect to the zip (HTTP {response.status_code})", "GET", path, response.status_code
            )
        return PdfManagerZipLink(zip_file_id=zip_file_id, url=url, minted_at=minted_at)

    # --- Transport and error mapping ------------------------------------------------------------------------

    def _call(
        self,
        endpoint: str,
        method: str,
        path: str,
        parse: Callable[[Mapping[str, Any]], T],
        *,
        body: Mapping[str, Any] | None = None,
    ) -> T:
        response = self._send(endpoint, method, path, body=body)
        try:
            payload = json.loads(response.content)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise self._bad_response("that is not a JSON object", method, path, response.status_code)
        try:
            return parse(payload)
        except ShapeError as problem:
            detail = problem.detail
        # Outside the `except`, like every error raised here, so no exception chain hangs off it.
        raise self._bad_response(detail, method, path, response.status_code)

    def _send(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        redirect_expected: bool = False,
    ) -> requests.Response:
        """One call; its response when it succeeded (2xx, or a redirect where one is the answer, never followed),
        else the error it ends as."""
        with self._lock:
            self.calls_made += 1
        started = time.monotonic()
        failure: WebAdmitError | None = None
        try:
            response = self._session.request(
                method,
                f"{self.base_url}{path}",
                headers={
                    "x-api-key": self.__api_key.reveal(),
                    "Accept": "application/json",
                    "User-Agent": USER_AGENT,
                },
                json=body,
                timeout=self.timeout,
                # requests would forward our custom x-api-key header to whatever host a redirect names.
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            failure = self._transport_error(exc)
        elapsed = time.monotonic() - started
        elapsed_ms = elapsed * 1000
        _notify(endpoint, "no_response" if failure is not None else str(response.status_code), elapsed)
        if failure is not None:
            logger.debug(
                "WebAdMIT %s %s failed after %.0f ms: %s (credential %r)",
                method,
                path,
                elapsed_ms,
                failure.kind,
                self.credential_name,
            )
            # Raised outside the `except` on purpose: requests exceptions hold the prepared request, headers
            # and all, and chaining would carry the API key into tracebacks and error trackers.
            raise failure
        logger.debug(
            "WebAdMIT %s %s -> %s in %.0f ms (credential %r)",
            method,
            path,
            response.status_code,
            elapsed_ms,
            self.credential_name,
        )
        self._note_rate_limit(response)
        if 200 <= response.status_code < 300 or (redirect_expected and response.status_code in _REDIRECTS):
            return response
        raise self._http_error(response, method, path)

    def _transport_error(self, exc: requests.RequestException) -> WebAdmitError:
        name = self.credential_name
        # Order matters: SSLError and ConnectTimeout are also ConnectionErrors.
        if isinstance(exc, requests.exceptions.SSLError):
            return UpstreamUnavailable(
                f"The secure (TLS) connection to WebAdMIT at {self.base_url} failed (credential '{name}'). "
                "Will try again later; if it persists, check the base URL and the server's certificate."
            )
        if isinstance(exc, requests.Timeout):
            return UpstreamUnavailable(f"WebAdMIT did not answer in time (credential '{name}'). Will try again later.")
        if isinstance(exc, requests.ConnectionError):
            return UpstreamUnavailable(
                f"Could not connect to WebAdMIT at {self.base_url} (credential '{name}'). "
                "Will try again later; if it persists, check the base URL."
            )
        if isinstance(exc, requests.exceptions.InvalidHeader):
            return KeyRejected(
                f"The API key for credential '{name}' contains characters that cannot be sent. "
                "Check the key in the admin."
            )
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return RequestRejected(f"The base URL {self.base_url!r} of credential '{name}' is not a valid URL.")
        return UpstreamUnavailable(
            f"The call to WebAdMIT failed on the way (credential '{name}'). Will try again later."
        )

    def _http_error(self, response: requests.Response, method: str, path: str) -> WebAdmitError:
        status = response.status_code
        name = self.credential_name
        remaining = _header_int(response, "X-RateLimit-Remaining")
        if status == 429 or (status == 403 and remaining == 0):
            retry_after = _retry_after(response.headers.get("Retry-After"))
            when = "later" if retry_after is None else f"after {math.ceil(retry_after)} s"
            return RateLimited(
                f"WebAdMIT's rate limit was reached for credential '{name}'; retrying {when}.",
                retry_after=retry_after,
                status_code=status,
            )
        if status == 401:
            return KeyRejected(
                f"WebAdMIT rejected the API key for credential '{name}'. Check the key in the admin.",
                status_code=status,
            )
        if status == 403:
            # WebAdMIT documents no 403 besides (maybe) the rate limit, handled above. Anything else means
            # this key may not do this, which no retry will change: a person has to look, so it is permanent.
            return KeyRejected(
                f"WebAdMIT refused access for credential '{name}' (HTTP 403). "
                "Check the key in the admin and that its user has API Access.",
                status_code=status,
            )
        upstream = _upstream_text(response)
        if status == 404:
            if upstream:
                text = upstream if upstream.endswith((".", "!", "?")) else f"{upstream}."
                message = f"WebAdMIT says: {text} (credential '{name}')"
            else:
                message = f"WebAdMIT found nothing at {method} {path} (credential '{name}')."
            return NotFound(message, upstream_message=upstream)
        if status == 408 or status >= 500:
            return UpstreamUnavailable(
                f"WebAdMIT is unavailable (HTTP {status}) for credential '{name}'. Will try again later.",
                status_code=status,
            )
        if 300 <= status < 400:
            return RequestRejected(
                f"WebAdMIT redirected {method} {path} (HTTP {status}) for credential '{name}'. "
                f"Check the base URL {self.base_url} in the admin.",
                status_code=status,
            )
        if 400 <= status < 500:
            detail = f": {upstream}" if upstream else "."
            return RequestRejected(
                f"WebAdMIT rejected {method} {path} (HTTP {status}) for credential '{name}'{detail}",
                upstream_message=upstream,
                status_code=status,
            )
        return self._bad_response(f"with the unexpected HTTP status {status}", method, path, status)

    def _bad_response(self, detail: str, method: str, path: str, status: int) -> BadResponse:
        return BadResponse(
            f"WebAdMIT sent a response {detail} ({method} {path}, credential '{self.credential_name}'). "
            "Will try again later.",
            status_code=status,
        )

    def _note_rate_limit(self, response: requests.Response) -> None:
        limit = _header_int(response, "X-RateLimit-Limit")
        remaining = _header_int(response, "X-RateLimit-Remaining")
        if limit is not None or remaining is not None:
            with self._lock:
                self.rate_limit = RateLimit(limit=limit, remaining=remaining)


class _Secret:
    """Holds the API key so that repr(), vars() and debuggers show a placeholder, not the key."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "<redacted>"

    def reveal(self) -> str:
        return self._value


# --- Headers and error bodies -------------------------------------------------------------------------------


def _redirect_target(response: requests.Response, request_url: str) -> str | None:
    """The absolute http(s) URL a redirect names (a relative Location is resolved against the request), or None
    when the response is no redirect or names nowhere usable."""
    if response.status_code not in _REDIRECTS:
        return None
    location = response.headers.get("Location", "").strip()
    if not location:
        return None
    url = urljoin(request_url, location)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _header_int(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers.get(name, ""))
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header, which may be a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _upstream_text(response: requests.Response, limit: int = 300) -> str | None:
    """WebAdMIT's own words from an error body: `message`, or the `errors` of a 422, flattened."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    if isinstance(message, str) and message.strip():
        return _one_plain_line(message)[:limit]
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts = []
        for key, value in errors.items():
            texts = value if isinstance(value, list) else [value]
            parts.append(f"{key}: " + " ".join(str(text) for text in texts))
        return _one_plain_line("; ".join(parts))[:limit] or None
    if isinstance(errors, list) and errors:
        return _one_plain_line("; ".join(str(text) for text in errors))[:limit]
    return None


def _one_plain_line(text: str) -> str:
    """WebAdMIT's words as they can go into a message that is logged, stored (PostgreSQL refuses NUL) and shown on
    one line: NUL removed, every run of whitespace (line breaks included) one space. The product's core.text does
    this for the rest of the product; the client, which knows nothing of the product, does its own."""
    return " ".join(text.replace("\x00", "").split())


# --- Parsing: strict about what we use, silent about everything else (parsing.py) ----------------------------


def _identity(item: Mapping[str, Any], where: str) -> UserIdentity:
    return UserIdentity(
        id=integer(item, "id", where),
        type=text(item, "type", where),
        association=optional_text(item, "association", where),
        institution=optional_text(item, "institution", where),
        organization=optional_text(item, "organization", where),
        cycle=optional_text(item, "cycle", where),
    )


def _export(item: Mapping[str, Any], where: str) -> Export:
    return Export(
        id=integer(item, "id", where),
        name=text(item, "name", where),
        list_type=optional_text(item, "list_type", where),
        format=optional_text(item, "format", where),
        mime_type=optional_text(item, "mime_type", where),
    )


def _export_file(item: Mapping[str, Any], where: str) -> ExportFile:
    raw_status = text(item, "status", where)
    return ExportFile(
        id=integer(item, "id", where),
        href=text(item, "href", where),
        export_id=integer(item, "export_id", where),
        status=parse_status(raw_status),
        raw_status=raw_status,
    )


def _identities_from(payload: Mapping[str, Any]) -> list[UserIdentity]:
    return [_identity(item, where) for item, where in items(payload, "user_identities")]


def _exports_from(payload: Mapping[str, Any]) -> list[Export]:
    return [_export(item, where) for item, where in items(payload, "exports")]


def _files_from(payload: Mapping[str, Any]) -> list[ExportFile]:
    return [_export_file(item, where) for item, where in items(payload, "export_files")]


def _single_file_from(payload: Mapping[str, Any]) -> ExportFile:
    return _export_file(as_object(required(payload, "export_files", ""), "export_files"), "export_files")


def _download_link_from(payload: Mapping[str, Any], minted_at: datetime) -> DownloadLink:
    item = as_object(required(payload, "export_files", ""), "export_files")
    url = optional_text(item, "download_url", "export_files")
    return DownloadLink(file=_export_file(item, "export_files"), url=url or None, minted_at=minted_at)
