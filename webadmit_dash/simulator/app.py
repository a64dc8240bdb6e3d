"""The simulated WebAdMIT over HTTP: a plain WSGI app serving API v1 (E1-E7, and PDF Manager's P1-P6), a fake S3
for download URLs, and a control API for demos and tests.

Routes:
- `/api/v1/...` the documented calls, behind `x-api-key`, rate-limited per key over a rolling hour. PDF Manager's
  (data.py names them P1-P6) share the key, the budget and the faults: P1 `GET .../pdf_manager_templates`, P2 one
  template, P3 `POST .../pdf_manager_batches` (201; a callback not `https://` is a 422), P4 the batches, P5 one
  batch with its `download_hrefs`, P6 `GET .../pdf_manager_zip_files/:id/download`, a 302 to fake S3.
- `/_s3/webadmit-exports/<key>?...` pre-signed downloads that expire `url_ttl` seconds after E5 minted them;
  `/_s3/webadmit-pdf-manager/<key>?...` the same for the zips P6 redirects to.
- `/_simulator/...` control: faults, forced statuses, new runs, clock, settings, state. No key: local use only. A fault
  is `POST /_simulator/faults {"kind": ..., "identity_id"?, "endpoint"?: "E1"..."E7", "P1"..."P6", "times"?,
  "seconds"?}`; `{"kind": "cut_download", "times"?, "after_bytes"?}` cuts downloads (zips too) off mid-stream.
  `POST /_simulator/pdf_manager_batches/<id> {"state": ...}` pins a batch's state (any text: an unknown one stays
  raw); `POST /_simulator/identities/<uid>/pdf_manager_batches {"template_id", "outcome"?}` starts a batch.
  `POST /_simulator/settings {"e4_status": 201}` makes E4 answer the documented code instead of production's 200;
  `{"file_size": 5000000}` makes downloads that many bytes (`null`: the small seeded files);
  `{"callbacks": "on" | "drop" | "delay", "callback_delay": seconds}` makes, drops or delays E4's callbacks
  (callbacks.py: a run started with `callback`, in the JSON body or the query string, is called back when it ends;
  so is a batch started with one). `http_batch_callbacks=True` (`--http-batch-callbacks`) lets P3 take `http://`
  callbacks, which WebAdMIT refuses, for a local demo whose dashboard has no TLS.

Downloads are streamed with a Content-Length, a chunk at a time, so a 500 MB file costs the simulator a chunk of
memory, not 500 MB. A cut download sends part of its body and then raises `DownloadCut`; the server (server.py)
closes the connection on it, as a link dying mid-stream would look to the client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlencode

from .callbacks import Callbacks, checked_callback_settings, valid_url
from .contents import CHUNK_SIZE
from .data import DOWNLOADABLE, TITLE_CASE, Fault, FileState, SimExport, SimIdentity, SimulatedWorld
from .pdf_payloads import batch_payload, read_batch_request, single_batch_payload, template_payload

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
BUCKET = "webadmit-exports"
PDF_BUCKET = "webadmit-pdf-manager"
ACCESS_KEY_ID = "AKIAWEBADMITSIMULATR"
MAX_BODY = 1 << 20
# What E4 may answer: 200 as production does (the default), or 201 as the docs say, to test a client against both.
E4_STATUSES = (200, 201)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


@dataclass
class Reply:
    """An answer; `stream` (with its `length`) replaces `body` for a download, sent as it is made."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterable[bytes] | None = None
    length: int = 0


class DownloadCut(Exception):
    """Raised by a download's body when a cut_download fault ends it early: the server drops the connection."""


def _json(status: int, payload: Any) -> Reply:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Reply(status, body, [("Content-Type", JSON_TYPE)])


def _not_found(message: str = "Not Found") -> Reply:
    return _json(404, {"message": message})


def _s3_error(status: int, code: str, message: str, extra: str = "") -> Reply:
    request_id = secrets.token_hex(8).upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{extra}"
        f"<RequestId>{request_id}</RequestId><HostId>{secrets.token_urlsafe(48)}</HostId></Error>"
    )
    return Reply(status, body.encode(), [("Content-Type", "application/xml")])


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _RateBudget:
    """Calls per key over a rolling hour, on the world's clock so tests can fast-forward it."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def spend(self, key: str) -> tuple[int, float | None]:
        """Record a call; returns (calls remaining, None), or (0, seconds to wait) when the budget is spent."""
        now = self._clock()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - 3600:
                calls.popleft()
            if len(calls) >= self.limit:
                return 0, calls[0] + 3600 - now
            calls.append(now)
            return self.limit - len(calls), None


class _Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    handler: str
    endpoint: str | None = None  # the API route's name (E1-E7, P1-P6; data.ENDPOINTS), for faults aimed at it


_API_ROUTES = [
    _Route("GET", re.compile(r"/api/v1/user_identities"), "_user_identities", "E1"),
    _Route("GET", re.compile(r"/api/v1/exports"), "_all_exports", "E2"),
    _Route("GET", re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/exports"), "_exports", "E3"),
    _Route("GET", re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/export_files"), "_export_files", "E6"),
    _Route("GET", re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/exports/(?P<eid>\d+)/export_files"), "_runs", "E7"),
    _Route(
        "POST", re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/exports/(?P<eid>\d+)/export_files"), "_start", "E4"
    ),
    _Route("GET", re.compile(r"/api/v1/exports/(?P<eid>\d+)/export_files/(?P<fid>\d+)"), "_export_file", "E5"),
    _Route("GET", re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/pdf_manager_templates"), "_pdf_templates", "P1"),
    _Route(
        "GET",
        re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/pdf_manager_templates/(?P<tid>\d+)"),
        "_pdf_template",
        "P2",
    ),
    _Route("POST", re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/pdf_manager_batches"), "_pdf_start", "P3"),
    _Route("GET", re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/pdf_manager_batches"), "_pdf_batches", "P4"),
    _Route(
        "GET", re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/pdf_manager_batches/(?P<bid>\d+)"), "_pdf_batch", "P5"
    ),
    _Route(
        "GET",
        re.compile(r"/api/v1/user_identities/(?P<uid>\d+)/pdf_manager_zip_files/(?P<zid>\d+)/download"),
        "_pdf_zip",
        "P6",
    ),
]
_CONTROL_ROUTES = [
    _Route("GET", re.compile(r"/_simulator/state"), "_control_state"),
    _Route("GET", re.compile(r"/_simulator/faults"), "_control_faults"),
    _Route("POST", re.compile(r"/_simulator/faults"), "_control_add_fault"),
    _Route("DELETE", re.compile(r"/_simulator/faults"), "_control_clear_faults"),
    _Route("POST", re.compile(r"/_simulator/files/(?P<fid>\d+)"), "_control_force_status"),
    _Route("POST", re.compile(r"/_simulator/identities/(?P<uid>\d+)/runs"), "_control_add_run"),
    _Route("POST", re.compile(r"/_simulator/clock"), "_control_clock"),
    _Route("POST", re.compile(r"/_simulator/settings"), "_control_settings"),
    _Route("POST", re.compile(r"/_simulator/pdf_manager_batches/(?P<bid>\d+)"), "_control_force_batch_state"),
    _Route("POST", re.compile(r"/_simulator/identities/(?P<uid>\d+)/pdf_manager_batches"), "_control_add_batch"),
]
# The last segment is the file name, which may hold a "/" (the server hands the path over percent-decoded).
_S3_ROUTE = re.compile(rf"/_s3/{BUCKET}/exports/(?P<eid>\d+)/files/(?P<fid>\d+)/.+")
_PDF_S3_ROUTE = re.compile(rf"/_s3/{PDF_BUCKET}/batches/(?P<bid>\d+)/zips/(?P<zid>\d+)/.+")


def _match(routes: list[_Route], method: str, path: str) -> tuple[_Route, dict[str, int]] | None:
    for route in routes:
        found = route.pattern.fullmatch(path)
        if found and route.method == method:
            return route, {name: int(value) for name, value in found.groupdict().items()}
    return None


class SimulatorApp:
    """The WSGI callable. `latency` (seconds) delays every API call; `url_ttl` is how long a download URL lives."""

    def __init__(
        self,
        world: SimulatedWorld,
        api_keys: set[str],
        *,
        lowercase_statuses: bool = False,
        rate_limit_per_hour: int = 5000,
        url_ttl: float = 25.0,
        latency: float = 0.0,
        e4_status: int = 200,
        http_batch_callbacks: bool = False,
    ) -> None:
        if not api_keys:
            raise ValueError("the simulator needs at least one API key")
        self.world = world
        self.lowercase_statuses = lowercase_statuses
        self.e4_status = _checked_e4_status(e4_status)
        self.url_ttl = url_ttl
        self.latency = latency
        self.http_batch_callbacks = http_batch_callbacks
        self._api_keys = frozenset(api_keys)
        self._budget = _RateBudget(rate_limit_per_hour, world.now)
        # Calls that reached an API endpoint, by (endpoint, identity id): refreshes counted as WebAdMIT sees them.
        self.calls: Counter[tuple[str, int | None]] = Counter()
        self._calls_lock = threading.Lock()
        # Signs download URLs; a fresh secret per app means URLs die with the server, as they would.
        self._signing_key = secrets.token_bytes(32)
        self.callbacks = Callbacks(world, self._status_text)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        try:
            if path.startswith("/_simulator/"):
                reply = self._control(environ, method, path)
            elif path.startswith("/_s3/"):
                reply = self._s3(environ, method, path)
            else:
                reply = self._api(environ, method, path)
        except Exception:
            logger.exception("simulator failed on %s %s", method, path)
            reply = Reply(500, b"simulator error", [("Content-Type", "text/plain")])
        # Always a Content-Length, streamed or not: without one, a kept-alive connection has no end of body.
        reply.headers.append(("Content-Length", str(reply.length if reply.stream is not None else len(reply.body))))
        start_response(f"{reply.status} {HTTPStatus(reply.status).phrase}", reply.headers)
        return reply.stream if reply.stream is not None else [reply.body]

    # --- The API ----------------------------------------------------------------------------------------------

    def _api(self, environ: Environ, method: str, path: str) -> Reply:
        if self.latency > 0:
            self.world.sleep(self.latency)
        key = environ.get("HTTP_X_API_KEY", "")
        limit = str(self._budget.limit)
        if key not in self._api_keys:
            return Reply(401, b"", [("X-RateLimit-Limit", limit), ("X-RateLimit-Remaining", limit)])
        remaining, wait = self._budget.spend(key)
        rate_headers = [("X-RateLimit-Limit", limit), ("X-RateLimit-Remaining", str(remaining))]
        if wait is not None:
            spent = _json(429, {"message": "Rate limit exceeded"})
            spent.headers += [*rate_headers, ("Retry-After", str(math.ceil(wait)))]
            return spent
        matched = _match(_API_ROUTES, method, path)
        route, ids = matched if matched else (None, {})
        identity_id = ids.get("uid")
        if identity_id is None and "eid" in ids:
            export = self.world.export(ids["eid"])
            identity_id = export.identity_id if export else None
        if route is not None and route.endpoint is not None:
            with self._calls_lock:
                self.calls[(route.endpoint, identity_id)] += 1
        fault = self.world.take_fault(identity_id, route.endpoint if route else None)
        forced = self._fault_reply(fault, identity_id, rate_headers) if fault is not None else None
        if forced is not None:
            reply = forced
        else:
            reply = getattr(self, route.handler)(environ, **ids) if route else _not_found()
        reply.headers += [header for header in rate_headers if header[0] not in dict(reply.headers)]
        return reply

    def _fault_reply(self, fault: Fault, identity_id: int | None, rate_headers: list[tuple[str, str]]) -> Reply | None:
        """The reply an injected fault forces, or None when the call should go on (after a `slow` delay)."""
        kind = fault.kind
        if kind == "slow":
            self.world.sleep(2.0 if fault.seconds is None else fault.seconds)
            return None
        if kind == "timeout":
            self.world.sleep(60.0 if fault.seconds is None else fault.seconds)
            return Reply(504, b"<h1>504 Gateway Time-out</h1>", [("Content-Type", "text/html")])
        if kind == "key_rejected":
            return Reply(401)
        if kind == "identity_not_found":
            target = identity_id if identity_id is not None else fault.identity_id
            return _not_found(f"User identity '{target}' not found." if target is not None else "Not Found")
        if kind == "rate_limited":
            reply = _json(429, {"message": "Rate limit exceeded"})
            wait = 30.0 if fault.seconds is None else fault.seconds
            reply.headers += [
                ("X-RateLimit-Limit", rate_headers[0][1]),
                ("X-RateLimit-Remaining", "0"),
                ("Retry-After", str(math.ceil(wait))),
            ]
            return reply
        if kind == "server_error":
            page = b"<html><body><h1>We're sorry, but something went wrong.</h1></body></html>"
            return Reply(500, page, [("Content-Type", "text/html; charset=utf-8")])
        if kind == "unavailable":
            page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
            return Reply(503, page, [("Content-Type", "text/html")])
        if kind == "malformed_json":
            # A response cut off mid-body, as a dropped proxy connection leaves it.
            return Reply(200, b'{"export_files": [{"id": 1, "href": "/api/v1/exp', [("Content-Type", JSON_TYPE)])
        return None

    def _status_text(self, status: str) -> str:
        if status not in TITLE_CASE:
            return status  # a forced, undocumented status goes out exactly as given
        return status if self.lowercase_statuses else TITLE_CASE[status]

    def _file_payload(self, state: FileState) -> dict[str, Any]:
        return {
            "id": state.id,
            "href": f"/api/v1/exports/{state.export_id}/export_files/{state.id}",
            "export_id": state.export_id,
            "status": self._status_text(state.status),
        }

    def _user_identities(self, environ: Environ) -> Reply:
        items = [_identity_payload(identity) for identity in self.world.identities()]
        return _json(200, {"href": "/api/v1/user_identities", "user_identities": items})

    def _all_exports(self, environ: Environ) -> Reply:
        items = [_export_payload(export) for export in self.world.exports()]
        return _json(200, {"href": "/api/v1/exports", "exports": items})

    def _exports(self, environ: Environ, uid: int) -> Reply:
        if self.world.identity(uid) is None:
            return _not_found(f"User identity '{uid}' not found.")
        items = [_export_payload(export) for export in self.world.exports(uid)]
        return _json(200, {"href": f"/api/v1/user_identities/{uid}/exports", "exports": items})

    def _export_files(self, environ: Environ, uid: int) -> Reply:
        if self.world.identity(uid) is None:
            return _not_found(f"User identity '{uid}' not found.")
        items = [self._file_payload(state) for state in self.world.files(uid)]
        return _json(200, {"href": f"/api/v1/user_identities/{uid}/export_files", "export_files": items})

    def _runs(self, environ: Environ, uid: int, eid: int) -> Reply:
        if self.world.identity(uid) is None:
            return _not_found(f"User identity '{uid}' not found.")
        export = self.world.export(eid)
        if export is None or export.identity_id != uid:
            return _not_found()
        # Newest first, as E6 and production: scripts take `[0]` for the run they have just started.
        items = [self._file_payload(state) for state in self.world.files(uid, eid)]
        href = f"/api/v1/user_identities/{uid}/exports/{eid}/export_files"
        return _json(200, {"href": href, "export_files": items})

    def _start(self, environ: Environ, uid: int, eid: int) -> Reply:
        body = _read_body(environ)
        parsed: Any = {}
        if body.strip():
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                problem = "The property '#/' of type string did not match the following type: object"
                return _json(422, {"errors": {"schema": [problem]}})
        # E4's optional callback, in the JSON body or the query string (the body's wins).
        callback = parsed.get("callback")
        if callback is None:
            callback = parse_qs(environ.get("QUERY_STRING", "")).get("callback", [None])[0]
        if callback is not None:
            refused = valid_url(callback)
            if refused is None:
                refused = f"The property '#/callback' of type {type(callback).__name__} did not match type string"
            if refused:
                return _json(422, {"errors": {"schema": [refused]}})
        try:
            state = self.world.start_run(uid, eid)
        except LookupError as error:
            return _not_found(str(error))
        if callback is not None:
            self.callbacks.register(state, callback)
        return _json(self.e4_status, {"export_files": self._file_payload(state)})

    def _export_file(self, environ: Environ, eid: int, fid: int) -> Reply:
        state = self.world.file(fid)
        if state is None or state.export_id != eid:
            return _not_found()
        payload = self._file_payload(state)
        payload["download_url"] = self._mint_url(environ, state) if state.status in DOWNLOADABLE else None
        return _json(200, {"export_files": payload})

    # --- PDF Manager (P1-P6) ---------------------------------------------------------------------------------

    def _pdf_templates(self, environ: Environ, uid: int) -> Reply:
        if self.world.identity(uid) is None:
            return _not_found(f"User identity '{uid}' not found.")
        items = [template_payload(template) for template in self.world.pdf_manager.templates(uid)]
        href = f"/api/v1/user_identities/{uid}/pdf_manager_templates"
        return _json(200, {"href": href, "pdf_manager_templates": items})

    def _pdf_template(self, environ: Environ, uid: int, tid: int) -> Reply:
        if self.world.identity(uid) is None:
            return _not_found(f"User identity '{uid}' not found.")
        template = self.world.pdf_manager.template(uid, tid)
        if template is None:
            return _not_found()
        return _json(200, {"pdf_manager_template": template_payload(template)})

    def _pdf_start(self, environ: Environ, uid: int) -> Reply:
        if self.world.identity(uid) is None:
            return _not_found(f"User identity '{uid}' not found.")
        request = read_batch_request(_read_body(environ), http_callbacks=self.http_batch_callbacks)
        if request.problems:
            return _json(422, {"errors": {"schema": request.problems}})
        assert request.template_id is not None  # read_batch_request saw to it
        try:
            # A template the identity does not have: 404, as for anything else a call names that does not exist
            # (what WebAdMIT answers here is undocumented).
            batch = self.world.pdf_manager.start_batch(uid, request.template_id)
        except LookupError:
            return _not_found()
        if request.callback is not None:
            self.callbacks.register_batch(batch, request.callback)
        return _json(201, single_batch_payload(batch))

    def _pdf_batches(self, environ: Environ, uid: int) -> Reply:
        if self.world.identity(uid) is None:
            return _not_found(f"User identity '{uid}' not found.")
        items = [batch_payload(batch) for batch in self.world.pdf_manager.batches(uid)]
        href = f"/api/v1/user_identities/{uid}/pdf_manager_batches"
        return _json(200, {"href": href, "pdf_manager_batches": items})

    def _pdf_batch(self, environ: Environ, uid: int, bid: int) -> Reply:
        if self.world.identity(uid) is None:
            return _not_found(f"User identity '{uid}' not found.")
        batch = self.world.pdf_manager.batch(bid, uid)
        if batch is None:
            return _not_found()
        return _json(200, single_batch_payload(batch))

    def _pdf_zip(self, environ: Environ, uid: int, zid: int) -> Reply:
        """P6: a 302 to a freshly signed link to the zip (a new one each call), as Rails redirects."""
        if self.world.identity(uid) is None:
            return _not_found(f"User identity '{uid}' not found.")
        download = self.world.pdf_manager.zip_download(zid, uid)
        if download is None:
            return _not_found()
        key = f"batches/{download.batch_id}/zips/{zid}/{quote(download.filename, safe='')}"
        url = self._presign(environ, PDF_BUCKET, key, download.filename, "application/zip")
        page = f'<html><body>You are being <a href="{escape(url)}">redirected</a>.</body></html>'
        return Reply(302, page.encode(), [("Location", url), ("Content-Type", "text/html; charset=utf-8")])

    # --- Fake S3 ----------------------------------------------------------------------------------------------

    def _mint_url(self, environ: Environ, state: FileState) -> str:
        export = self.world.export(state.export_id)
        assert export is not None  # a file's export never disappears
        key = f"exports/{export.id}/files/{state.id}/{quote(export.file_name, safe='')}"
        return self._presign(environ, BUCKET, key, export.file_name, export.mime_type)

    def _presign(self, environ: Environ, bucket: str, key: str, filename: str, content_type: str) -> str:
        """A link to `key` in `bucket` that dies `url_ttl` seconds from now, signed as S3 signs query strings."""
        expires = math.floor(self.world.now() + self.url_ttl)
        disposition = f'attachment; filename="{filename}"'
        signature = self._sign(bucket, key, expires, disposition, content_type)
        query = urlencode(
            {
                "AWSAccessKeyId": ACCESS_KEY_ID,
                "Expires": expires,
                "Signature": signature,
                "response-content-disposition": disposition,
                "response-content-type": content_type,
            },
            quote_via=quote,
        )
        return f"{environ.get('wsgi.url_scheme', 'http')}://{_host(environ)}/_s3/{bucket}/{key}?{query}"

    def _sign(self, bucket: str, key: str, expires: int, disposition: str, content_type: str) -> str:
        text = f"GET\n{expires}\n/{bucket}/{unquote(key)}\n{disposition}\n{content_type}"
        return base64.b64encode(hmac.new(self._signing_key, text.encode(), hashlib.sha256).digest()).decode()

    def _s3(self, environ: Environ, method: str, path: str) -> Reply:
        # WSGI hands the path over as Latin-1 text of the URL's bytes; the key's name was UTF-8.
        path = path.encode("latin-1").decode("utf-8", errors="replace")
        bucket = PDF_BUCKET if path.startswith(f"/_s3/{PDF_BUCKET}/") else BUCKET
        found = (_PDF_S3_ROUTE if bucket == PDF_BUCKET else _S3_ROUTE).fullmatch(path)
        if method != "GET" or found is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        query = {name: values[0] for name, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
        disposition = query.get("response-content-disposition", "")
        content_type = query.get("response-content-type", "")
        key = path.removeprefix(f"/_s3/{bucket}/")
        try:
            expires = int(query.get("Expires", ""))
        except ValueError:
            return _s3_error(403, "AccessDenied", "Query-string authentication requires the Expires parameter")
        expected = self._sign(bucket, key, expires, disposition, content_type)
        if query.get("AWSAccessKeyId") != ACCESS_KEY_ID or not hmac.compare_digest(
            query.get("Signature", ""), expected
        ):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        now = self.world.now()
        if now >= expires:
            extra = f"<Expires>{_iso(expires)}</Expires><ServerTime>{_iso(now)}</ServerTime>"
            return _s3_error(403, "AccessDenied", "Request has expired", extra)
        if bucket == PDF_BUCKET:
            return self._s3_zip(int(found["bid"]), int(found["zid"]), disposition, content_type)
        download = self.world.download(int(found["fid"]))
        if download is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        export = self.world.export(int(found["eid"]))
        return self._s3_object(
            download.chunks(),
            download.size,
            export.identity_id if export else None,
            content_type or download.content_type,
            disposition or f'attachment; filename="{download.filename}"',
        )

    def _s3_zip(self, batch_id: int, zip_file_id: int, disposition: str, content_type: str) -> Reply:
        download = self.world.pdf_manager.zip_download(zip_file_id)
        if download is None or download.batch_id != batch_id:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        body = download.body()
        return self._s3_object(
            (body[start : start + CHUNK_SIZE] for start in range(0, len(body), CHUNK_SIZE)),
            len(body),
            download.identity_id,
            content_type or "application/zip",
            disposition or f'attachment; filename="{download.filename}"',
        )

    def _s3_object(
        self, chunks: Iterator[bytes], size: int, identity_id: int | None, content_type: str, disposition: str
    ) -> Reply:
        """An object as S3 serves it: the headers the link asked for, the bytes streamed, and cut short when a
        cut_download fault for the identity asks."""
        # S3 sends these as the UTF-8 bytes they were given; WSGI wants them as Latin-1 text of those bytes.
        headers = [("Content-Type", _as_header(content_type)), ("Content-Disposition", _as_header(disposition))]
        fault = self.world.take_download_fault(identity_id)
        if fault is not None:  # cut_download, the one download fault
            chunks = _cut(chunks, size // 2 if fault.after_bytes is None else min(fault.after_bytes, size))
        return Reply(200, headers=headers, stream=chunks, length=size)

    # --- Control API ------------------------------------------------------------------------------------------

    def _control(self, environ: Environ, method: str, path: str) -> Reply:
        matched = _match(_CONTROL_ROUTES, method, path)
        if matched is None:
            return _json(404, {"error": f"no control endpoint {method} {path}"})
        route, ids = matched
        try:
            handler: Callable[..., Reply] = getattr(self, route.handler)
            return handler(environ, **ids)
        except LookupError as error:
            return _json(404, {"error": str(error.args[0] if error.args else error)})
        except ValueError as error:
            return _json(400, {"error": str(error)})

    def _settings(self) -> dict[str, Any]:
        return {
            "lowercase_statuses": self.lowercase_statuses,
            "rate_limit_per_hour": self._budget.limit,
            "url_ttl": self.url_ttl,
            "latency": self.latency,
            "e4_status": self.e4_status,
            "file_size": self.world.file_size,
            "http_batch_callbacks": self.http_batch_callbacks,
            **self.callbacks.settings(),
        }

    def _control_state(self, environ: Environ) -> Reply:
        summary = self.world.summary()
        summary["settings"] = self._settings()
        summary["callbacks"] = self.callbacks.summary()
        return _json(200, summary)

    def _control_faults(self, environ: Environ) -> Reply:
        return _json(200, {"faults": [fault.as_dict() for fault in self.world.faults()]})

    def _control_add_fault(self, environ: Environ) -> Reply:
        data = _json_object(environ)
        fault = self.world.add_fault(
            _field(data, "kind", str),
            identity_id=_field(data, "identity_id", int, required=False),
            times=_field(data, "times", int, required=False),
            seconds=_field(data, "seconds", float, required=False),
            endpoint=_field(data, "endpoint", str, required=False),
            after_bytes=_field(data, "after_bytes", int, required=False),
        )
        return _json(201, {"fault": fault.as_dict()})

    def _control_clear_faults(self, environ: Environ) -> Reply:
        return _json(200, {"cleared": self.world.clear_faults()})

    def _control_force_status(self, environ: Environ, fid: int) -> Reply:
        state = self.world.force_status(fid, _field(_json_object(environ), "status", str))
        return _json(200, {"export_files": self._file_payload(state)})

    def _control_add_run(self, environ: Environ, uid: int) -> Reply:
        data = _json_object(environ)
        state = self.world.add_run(
            uid,
            export_id=_field(data, "export_id", int, required=False),
            outcome=_field(data, "outcome", str, required=False),
        )
        return _json(201, {"export_files": self._file_payload(state)})

    def _control_force_batch_state(self, environ: Environ, bid: int) -> Reply:
        batch = self.world.pdf_manager.force_state(bid, _field(_json_object(environ), "state", str))
        return _json(200, single_batch_payload(batch))

    def _control_add_batch(self, environ: Environ, uid: int) -> Reply:
        data = _json_object(environ)
        if self.world.identity(uid) is None:
            raise LookupError(f"User identity '{uid}' not found.")
        batch = self.world.pdf_manager.start_batch(
            uid, _field(data, "template_id", int), outcome=_field(data, "outcome", str, required=False)
        )
        return _json(201, single_batch_payload(batch))

    def _control_clock(self, environ: Environ) -> Reply:
        now = self.world.advance(_field(_json_object(environ), "advance", float))
        return _json(200, {"now": now})

    def _control_settings(self, environ: Environ) -> Reply:
        data = _json_object(environ)
        # Only E4's status, the file size and the callbacks can change while serving; the other settings are fixed
        # at start-up.
        changeable = ("e4_status", "file_size", "callbacks", "callback_delay")
        unknown = sorted(set(data) - set(changeable))
        if unknown:
            named = ", ".join(map(repr, changeable))
            raise ValueError(f"only {named} can be set, not {', '.join(map(repr, unknown))}")
        if not data:
            raise ValueError(f"give one or more of {', '.join(map(repr, changeable))}")
        # Checked together before any changes, so a bad request changes nothing.
        e4_status = _checked_e4_status(_field(data, "e4_status", int)) if "e4_status" in data else self.e4_status
        mode, delay = checked_callback_settings(
            _field(data, "callbacks", str, required=False), _field(data, "callback_delay", float, required=False)
        )
        if "file_size" in data:
            self.world.set_file_size(_field(data, "file_size", int, required=False))
        self.e4_status = e4_status
        self.callbacks.configure(mode, delay)
        return _json(200, {"settings": self._settings()})


def _as_header(value: str) -> str:
    return value.encode("utf-8").decode("latin-1")


def _cut(chunks: Iterator[bytes], after: int) -> Iterator[bytes]:
    """The first `after` bytes of `chunks`, then DownloadCut."""
    sent = 0
    if after == 0:
        yield b""  # sends the headers (wsgiref sends them with the first write), so the cut comes after them
    try:
        for chunk in chunks:
            if sent + len(chunk) >= after:
                if after > sent:
                    yield chunk[: after - sent]
                break
            sent += len(chunk)
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    raise DownloadCut(f"download cut after {after} bytes, as a fault asked")


def _checked_e4_status(status: int) -> int:
    if status not in E4_STATUSES:
        raise ValueError(f"'e4_status' must be 200 (as production answers) or 201 (as the docs say), not {status!r}")
    return status


def _identity_payload(identity: SimIdentity) -> dict[str, Any]:
    return {
        "id": identity.id,
        "type": identity.type,
        "association": identity.association,
        "institution": identity.institution,
        "organization": identity.organization,
        "cycle": identity.cycle,
    }


def _export_payload(export: SimExport) -> dict[str, Any]:
    return {
        "id": export.id,
        "name": export.name,
        "list_type": export.list_type,
        "format": export.format,
        "mime_type": export.mime_type,
    }


def _host(environ: Environ) -> str:
    return environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '80')}"


def _read_body(environ: Environ) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    body: bytes = environ["wsgi.input"].read(min(length, MAX_BODY))
    return body


def _json_object(environ: Environ) -> dict[str, Any]:
    body = _read_body(environ)
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            raise ValueError(f"'{name}' is required")
        return None
    # JSON has one number type: accept ints where floats are wanted, never bools for either.
    numeric = kind is float and isinstance(value, int)
    if isinstance(value, bool) or not (isinstance(value, kind) or numeric):
        raise ValueError(f"'{name}' must be {kind.__name__}")
    return float(value) if numeric else value
