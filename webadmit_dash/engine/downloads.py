"""Download on demand: ask WebAdMIT (E5) for a fresh URL, decide whether to follow it, and audit the attempt.

The pre-signed URL is a bearer credential that dies within 30 seconds. It lives only in the return value of
`prepare_download` until the view puts it in one Location header: it is never stored (the audit keeps the
outcome, not the URL), logged, or rendered into a page. The call to WebAdMIT is an interactive one (`interactive`):
short timeouts, and answered at once while the credential's WebAdMIT is known not to answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User

from webadmit_dash.core.models import BatchZip, DownloadEvent, ExportFile, Kind
from webadmit_dash.core.problems import BUSY, DownloadOutcome, kind_of, meaning
from webadmit_dash.core.validators import is_loopback_host
from webadmit_dash.engine import interactive
from webadmit_dash.webadmit.errors import RateLimited, WebAdmitError
from webadmit_dash.webadmit.statuses import FileStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadAttempt:
    outcome: str
    title: str = ""
    message: str = ""
    http_status: int = 302
    retry_after: float | None = None
    url: str | None = field(default=None, repr=False)


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


def prepare_download(export_file: ExportFile, user: User) -> DownloadAttempt:
    """Mints a fresh download URL for a file the caller already checked the user may see, and audits it."""
    attempt = _attempt(export_file, user)
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


def _attempt(export_file: ExportFile, user: User) -> DownloadAttempt:
    if export_file.kind != Kind.EXPORT:
        # E5 names an export's file: asked with a batch's template and batch ids, it could mint a link to another
        # export's file with those ids. A batch's documents are its zips (BatchZip), fetched through P6: the web
        # sends a batch's Download to them (prepare_zip_download), so this answers only a caller that did not.
        return DownloadAttempt(
            DownloadOutcome.NOT_DOWNLOADABLE,
            "Download its zips",
            "This is a PDF Manager batch: its documents come as zips, each downloaded from the batch's page.",
            http_status=409,
        )
    status = export_file.status_enum
    # Empty List and Failed are final: WebAdMIT cannot have a file, so spare the call (and the rate budget).
    if status.is_finished and not status.is_downloadable:
        return _not_downloadable("Nothing to download", status)
    credential = export_file.identity.credential
    try:
        with interactive.calling(credential, user) as client:
            link = client.get_download_link(export_file.export_webadmit_id, export_file.webadmit_id)
    except WebAdmitError as error:
        return _refusal(error, credential.name)
    if link.url is None:
        return _not_downloadable("Not ready to download", link.file.status)
    return _followed(link.url)


def prepare_zip_download(batch_zip: BatchZip, user: User) -> DownloadAttempt:
    """Mints a fresh link to one zip of a batch (P6) the caller already checked the user may see, and audits it as
    a download of the batch (the message says which zip). The link is WebAdMIT's 302, never followed or stored."""
    batch = batch_zip.export_file
    attempt = _zip_attempt(batch_zip, user)
    which = f"Zip {batch_zip.part} of {batch_zip.parts}"
    DownloadEvent.objects.create(
        user=user,
        export_file=batch,
        file_webadmit_id=batch.webadmit_id,
        outcome=attempt.outcome,
        message=f"{which}: {attempt.message}" if attempt.message else which,
    )
    if attempt.url is None:
        logger.info("Download of zip %s of batch %s refused: %s", batch_zip.part, batch.webadmit_id, attempt.outcome)
    return attempt


def _zip_attempt(batch_zip: BatchZip, user: User) -> DownloadAttempt:
    batch = batch_zip.export_file
    status = batch.status_enum
    # Zips are read only once a batch is ready; one that failed since, or ran again, has nothing to give.
    if not status.is_downloadable:
        return DownloadAttempt(
            DownloadOutcome.NOT_DOWNLOADABLE,
            "Nothing to download",
            "WebAdMIT has no zips for this PDF Manager batch now: it is not ready.",
            http_status=409,
        )
    credential = batch.identity.credential
    try:
        with interactive.calling(credential, user) as client:
            link = client.get_pdf_manager_zip_link(batch.identity.webadmit_id, batch_zip.zip_webadmit_id)
    except WebAdmitError as error:
        return _refusal(error, credential.name)
    return _followed(link.url)


def _followed(url: str) -> DownloadAttempt:
    if not is_followable(url):
        return DownloadAttempt(
            DownloadOutcome.UNSAFE_URL,
            "Download address refused",
            "WebAdMIT offered a download address that is not a secure (https) link, so it was not followed. "
            "Tell whoever runs webadmit-dash; nothing was downloaded.",
            http_status=502,
        )
    return DownloadAttempt(DownloadOutcome.REDIRECTED, url=url)


def _not_downloadable(title: str, status: FileStatus) -> DownloadAttempt:
    # 409: the file exists but WebAdMIT has nothing to give for it.
    return DownloadAttempt(DownloadOutcome.NOT_DOWNLOADABLE, title, not_downloadable_reason(status), http_status=409)


def _refusal(error: WebAdmitError, credential_name: str) -> DownloadAttempt:
    """The page for a failed E5, in the words of the error table (or of our own limit, when no call was made)."""
    if isinstance(error, interactive.OverLimit):
        status, wait = error.http_status, error.retry_after
        return DownloadAttempt(kind_of(error.kind), error.title, error.message, http_status=status, retry_after=wait)
    words = BUSY if isinstance(error, interactive.Busy) else meaning(error.kind).download
    return DownloadAttempt(
        kind_of(error.kind),
        words.title,
        words.detail.format(credential=credential_name, detail=error.message),
        http_status=meaning(error.kind).download_status,
        retry_after=error.retry_after if isinstance(error, RateLimited) else None,
    )
