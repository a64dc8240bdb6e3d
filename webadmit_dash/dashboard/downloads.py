"""Download on demand: ask WebAdMIT (E5) for a fresh URL, decide whether to follow it, and audit the attempt.

The pre-signed URL is a bearer credential that dies within 30 seconds. It lives only in the return value of
`prepare_download` until the view puts it in one Location header: it is never stored (the audit keeps the
outcome, not the URL), logged, or rendered into a page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from webadmit_dash.dashboard import connections
from webadmit_dash.dashboard.models import DownloadEvent, ExportFile
from webadmit_dash.dashboard.validators import is_loopback_host
from webadmit_dash.webadmit.errors import RateLimited, WebAdmitError
from webadmit_dash.webadmit.statuses import FileStatus

logger = logging.getLogger(__name__)
Outcome = DownloadEvent.Outcome

_OUTCOME_BY_ERROR_KIND = {
    "key_rejected": Outcome.KEY_REJECTED,
    "not_found": Outcome.NOT_FOUND,
    "rate_limited": Outcome.RATE_LIMITED,
    "unavailable": Outcome.UNAVAILABLE,
}
# 410: the file existed and is gone; 409: it exists but has nothing to give; 502/503: WebAdMIT's side failed.
HTTP_STATUS = {
    Outcome.NOT_DOWNLOADABLE: 409,
    Outcome.NOT_FOUND: 410,
    Outcome.KEY_REJECTED: 502,
    Outcome.BAD_RESPONSE: 502,
    Outcome.UNSAFE_URL: 502,
    Outcome.RATE_LIMITED: 503,
    Outcome.UNAVAILABLE: 503,
}


@dataclass(frozen=True)
class DownloadAttempt:
    outcome: str
    title: str = ""
    message: str = ""
    retry_after: float | None = None
    url: str | None = field(default=None, repr=False)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.outcome, 502)


def not_downloadable_reason(status: FileStatus) -> str:
    if status is FileStatus.EMPTY_LIST:
        return "The export's list matched no applicants, so WebAdMIT made no file. Run it again to try once more."
    if status is FileStatus.FAILED:
        return "WebAdMIT could not generate this file: the run failed. Run the export again to get a new file."
    if not status.is_finished:
        return "WebAdMIT is still generating this file. The Download button appears as soon as it is ready."
    return "WebAdMIT has no file to download for this run."


def is_followable(url: str) -> bool:
    """Only https, or plain http to a loopback host (the bundled simulator) when local testing is switched on."""
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        return False
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and settings.WEBADMIT_ALLOW_LOOPBACK and is_loopback_host(host)


def prepare_download(export_file: ExportFile, user: AbstractBaseUser) -> DownloadAttempt:
    """Mints a fresh download URL for a file the caller already checked the user may see, and audits it."""
    attempt = _attempt(export_file)
    DownloadEvent.objects.create(
        user=user,
        export_file=export_file,
        file_webadmit_id=export_file.webadmit_id,
        outcome=attempt.outcome,
        message=attempt.message,
    )
    if attempt.url is None:
        logger.info("Download of file %s refused: %s", export_file.webadmit_id, attempt.outcome)
    return attempt


def _attempt(export_file: ExportFile) -> DownloadAttempt:
    status = export_file.status_enum
    # Empty List and Failed are final: WebAdMIT cannot have a file, so spare the call (and the rate budget).
    if status.is_finished and not status.is_downloadable:
        return DownloadAttempt(Outcome.NOT_DOWNLOADABLE, "Nothing to download", not_downloadable_reason(status))
    credential = export_file.identity.credential
    try:
        with connections.client_for(credential) as client:
            link = client.get_download_link(export_file.export_webadmit_id, export_file.webadmit_id)
    except WebAdmitError as error:
        connections.record_health(credential, error)
        return _refusal(error)
    connections.record_health(credential, None)
    if link.url is None:
        return DownloadAttempt(
            Outcome.NOT_DOWNLOADABLE, "Not ready to download", not_downloadable_reason(link.file.status)
        )
    if not is_followable(link.url):
        return DownloadAttempt(
            Outcome.UNSAFE_URL,
            "Download address refused",
            "WebAdMIT offered a download address that is not a secure (https) link, so it was not followed. "
            "Tell whoever runs webadmit-dash; nothing was downloaded.",
        )
    return DownloadAttempt(Outcome.REDIRECTED, url=link.url)


def _refusal(error: WebAdmitError) -> DownloadAttempt:
    outcome = _OUTCOME_BY_ERROR_KIND.get(error.kind, Outcome.BAD_RESPONSE)
    if outcome == Outcome.NOT_FOUND:
        return DownloadAttempt(
            outcome,
            "WebAdMIT no longer has this file",
            "WebAdMIT keeps files for a limited time (about a week) and this one has gone. "
            "Run the export again to get a fresh file.",
        )
    if outcome == Outcome.KEY_REJECTED:
        return DownloadAttempt(
            outcome,
            "WebAdMIT refused the request",
            f"{error.message} Until then, no file of this credential can be downloaded.",
        )
    if outcome == Outcome.RATE_LIMITED:
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        return DownloadAttempt(
            outcome,
            "WebAdMIT is busy",
            "WebAdMIT's hourly limit of calls has been reached for this key. Try again in a few minutes.",
            retry_after=retry_after,
        )
    if outcome == Outcome.UNAVAILABLE:
        return DownloadAttempt(
            outcome,
            "WebAdMIT is not answering",
            "WebAdMIT could not be reached just now, so no download link could be made. Try again in a minute.",
        )
    return DownloadAttempt(
        outcome,
        "WebAdMIT sent an unexpected answer",
        "WebAdMIT's answer could not be understood, so no download link could be made. Try again in a minute; "
        "if it keeps happening, tell whoever runs webadmit-dash.",
    )
