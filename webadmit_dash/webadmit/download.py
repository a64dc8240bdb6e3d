"""Fetching an export file from the pre-signed S3 URL that E5 hands out, as a stream of chunks.

The URL is a bearer credential for the file (no API key is needed to use it) and it dies less than 30 seconds after
E5 minted it, so it is used at once and only here: it never appears in a log line, an error message or a repr. What
S3 says when it refuses is kept, on one line; every failure is one of the client's `WebAdmitError` family:

- `LinkExpired` (transient): the link died before the download began. Ask E5 for a new one and start again.
- `DownloadBroken` (transient): the stream ended early, the connection dropped or a read timed out mid-stream.
  A dead link does not stop a download S3 has begun, so this is the network, not the link: start again (with a new
  link, since the old one is likely dead by then).
- `NotFound`, `RequestRejected` (permanent): S3 refused for another reason (a bad signature, a missing key).
- `UpstreamUnavailable` (transient): S3 could not be reached, or failed on its side (5xx, timeout).

The bytes are counted against Content-Length, and read as sent (no content decoding; `Accept-Encoding: identity`),
so what the caller checksums is exactly the file.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value
from types import TracebackType
from typing import ClassVar, Self
from urllib.parse import urlsplit

import requests
import urllib3

from .client import USER_AGENT
from .errors import NotFound, RequestRejected, UpstreamUnavailable, WebAdmitError


class _WithoutQueryStrings(logging.Filter):
    """urllib3 logs every request's path and query string at DEBUG: for a pre-signed link, the signature itself.
    This cuts query strings off what its connection pool logs, for whoever turns DEBUG on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(arg.split("?", 1)[0] if isinstance(arg, str) else arg for arg in record.args)
        return True


if not any(isinstance(each, _WithoutQueryStrings) for each in logging.getLogger("urllib3.connectionpool").filters):
    logging.getLogger("urllib3.connectionpool").addFilter(_WithoutQueryStrings())

# An S3 error body is a few hundred bytes of XML; read no more than this of whatever a failing server sends.
_ERROR_BODY_LIMIT = 64 * 1024
_FILE_NAME_LIMIT = 255


class LinkExpired(WebAdmitError):
    """The download link had expired before the download began (S3's 403 "Request has expired"): ask E5 again."""

    permanent = False
    kind: ClassVar[str] = "link_expired"


class DownloadBroken(UpstreamUnavailable):
    """The download stopped part-way: fewer bytes than Content-Length, a dropped connection, a read timeout."""

    kind: ClassVar[str] = "download_broken"


@dataclass
class Download:
    """An open download: what the server said about the file, and `chunks()` to read it once. A context manager;
    `close()` releases the connection (one not read to its end is dropped rather than reused)."""

    content_type: str
    length: int | None  # Content-Length, when the server sent one
    file_name: str | None  # from Content-Disposition, when sent: one line, no folders
    received: int = field(default=0, init=False)  # bytes read so far
    _response: requests.Response = field(repr=False, compare=False, kw_only=True)
    _chunk_size: int = field(repr=False, compare=False, kw_only=True)
    _host: str = field(repr=False, compare=False, kw_only=True)
    _read: bool = field(default=False, repr=False, compare=False, init=False)

    def chunks(self) -> Iterator[bytes]:
        """The body, in chunks of at most `chunk_size` bytes; DownloadBroken when it stops short. Readable once."""
        if self._read:
            raise RuntimeError("a download's chunks can be read only once")
        self._read = True
        stream = self._response.raw.stream(self._chunk_size, decode_content=False)
        while True:
            failure: DownloadBroken | None = None
            try:
                chunk = next(stream, None)
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
                failure = self._broken(error)
            if failure is not None:
                # Raised outside the `except`: urllib3's errors name the URL, query string and all, and a chained
                # exception would carry it into tracebacks.
                self.close()
                raise failure
            if chunk is None:
                break
            self.received += len(chunk)
            yield chunk
        if self.length is not None and self.received != self.length:
            self.close()
            raise DownloadBroken(
                f"The download from {self._host} ended after {self.received:,} of {self.length:,} bytes. "
                "Will start again with a new link."
            )

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _broken(self, error: Exception) -> DownloadBroken:
        what = "a read timed out" if _is_timeout(error) else "the connection dropped"
        return DownloadBroken(
            f"The download from {self._host} stopped after {self.received:,} bytes: {what}. "
            "Will start again with a new link."
        )


def open_download(
    session: requests.Session,
    url: str,
    *,
    connect_timeout: float,
    read_timeout: float,
    chunk_size: int = 1 << 20,
) -> Download:
    """GET a pre-signed download URL and return the open download once its headers have arrived.

    `read_timeout` bounds each wait for bytes, not the whole download: bound that yourself if it matters. Raises
    LinkExpired, NotFound, RequestRejected or UpstreamUnavailable (see the module's docstring); never the URL.
    """
    host = _host_of(url)
    failure: WebAdmitError | None = None
    try:
        response = session.get(
            url,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            timeout=(connect_timeout, read_timeout),
            stream=True,
        )
    except requests.RequestException as error:
        failure = _opening_error(error, host)
    if failure is not None:
        raise failure  # outside the `except`, so no exception (holding the URL) is chained to it
    if not 200 <= response.status_code < 300:
        refusal = _refusal(response, host)
        response.close()
        raise refusal
    return Download(
        content_type=response.headers.get("Content-Type") or "application/octet-stream",
        length=_content_length(response),
        file_name=file_name_from(response.headers.get("Content-Disposition")),
        _response=response,
        _chunk_size=chunk_size,
        _host=host,
    )


def file_name_from(disposition: str | None) -> str | None:
    """The file name a Content-Disposition header gives (`filename*=UTF-8''...` preferred, as RFC 6266 says),
    cleaned to be safe as a name: one line, no folders, no control or invisible characters, at most 255 characters;
    None when there is none."""
    if not disposition:
        return None
    message = Message()
    message["Content-Disposition"] = disposition
    names = [value for key, value in message.get_params([], header="content-disposition") if key.lower() == "filename"]
    encoded = [value for value in names if isinstance(value, tuple)]  # filename*=charset''percent-encoded
    plain = [value for value in names if isinstance(value, str)]
    if encoded:
        name = collapse_rfc2231_value(encoded[0])
    elif plain:
        name = plain[0]
        # http.client decodes header bytes as Latin-1; a server that sent a UTF-8 name arrives garbled. Undo that.
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("latin-1").decode("utf-8")
    else:
        return None
    name = re.split(r"[/\\]", name)[-1]
    # Control characters, line and paragraph separators, and invisible format characters (a right-to-left override
    # makes "Roster\u202etxt.exe" read as "Rosterexe.txt") become spaces.
    name = "".join(" " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in name)
    name = " ".join(name.split())[:_FILE_NAME_LIMIT]
    return None if name.strip(".") == "" else name


# --- Errors -----------------------------------------------------------------------------------------------------


def _opening_error(error: requests.RequestException, host: str) -> WebAdmitError:
    # Order matters: SSLError and ConnectTimeout are also ConnectionErrors.
    if isinstance(error, requests.exceptions.SSLError):
        return UpstreamUnavailable(f"The secure (TLS) connection to {host} for the download failed. Will try again.")
    if isinstance(error, requests.Timeout):
        return UpstreamUnavailable(f"The download server {host} did not answer in time. Will try again.")
    if isinstance(error, requests.ConnectionError):
        return UpstreamUnavailable(f"Could not connect to the download server {host}. Will try again.")
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return RequestRejected("WebAdMIT's download link is not a valid URL.")
    return UpstreamUnavailable(f"The download from {host} failed on the way. Will try again.")


def _refusal(response: requests.Response, host: str) -> WebAdmitError:
    status = response.status_code
    code, words = _s3_error(response)
    said = f": {code + ': ' if code else ''}{words}" if words else (f": {code}" if code else "")
    if _expired(status, code, words):
        return LinkExpired(
            f"The download link had expired before the download began ({host} answered HTTP {status}{said}). "
            "Will ask WebAdMIT for a new one.",
            status_code=status,
        )
    if status == 408 or status == 429 or status >= 500:
        return UpstreamUnavailable(
            f"The download server {host} is unavailable (HTTP {status}{said}). Will try again later.",
            status_code=status,
        )
    if status == 404:
        return NotFound(
            f"The download server {host} has no such file (HTTP 404{said}).",
            upstream_message=words or code or None,
        )
    return RequestRejected(
        f"The download server {host} refused the download (HTTP {status}{said}).", status_code=status
    )


def _expired(status: int, code: str, words: str) -> bool:
    # S3: 403 AccessDenied "Request has expired" for a URL used too late; 400 ExpiredToken when the temporary
    # credentials that signed it have expired. Either way a newly minted link will do.
    if status == 403 and code in ("AccessDenied", "") and "expired" in words.lower():
        return True
    return status in (400, 403) and code in ("ExpiredToken", "TokenRefreshRequired")


def _s3_error(response: requests.Response) -> tuple[str, str]:
    """S3's `<Code>` and `<Message>` from an error body (empty when absent), each on one plain line."""
    try:
        body = response.raw.read(_ERROR_BODY_LIMIT, decode_content=True) or b""
    except (urllib3.exceptions.HTTPError, OSError):
        return "", ""
    text = body.decode("utf-8", errors="replace")

    def element(name: str) -> str:
        found = re.search(rf"<{name}>([^<]*)</{name}>", text)
        return _one_plain_line(html.unescape(found[1]))[:300] if found else ""

    return element("Code"), element("Message")


def _one_plain_line(text: str) -> str:
    return " ".join(text.replace("\x00", "").split())


def _is_timeout(error: Exception) -> bool:
    if isinstance(error, urllib3.exceptions.TimeoutError | requests.Timeout | TimeoutError):
        return True
    return any(isinstance(arg, Exception) and _is_timeout(arg) for arg in error.args)


def _content_length(response: requests.Response) -> int | None:
    try:
        length = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _host_of(url: str) -> str:
    """The URL's host (and port), which says where a download failed without the path and query that sign it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an unreadable address)"
    if not host:
        return "(an unreadable address)"
    return f"{host}:{port}" if port else host
