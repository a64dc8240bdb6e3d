"""Downloads from the archive: a collected file streamed to the person (or script) who asked, with no WebAdMIT call.

The caller has already checked that its user may see the file's identity. The copy is verified whole first (every
chunk authenticated, then its size and SHA-256 against the record), so a tampered copy is refused before a byte of it
leaves, and the refusal says so in words. A tampered copy is not replaced by WebAdMIT's: the archived copy is the
proof of what was collected and delivered, and a quiet fallback would hide that the archive was changed (and make
the answer depend on WebAdMIT being up). Every answer is audited like a WebAdMIT download (core.DownloadEvent).

Between the check and the stream a changed file is still caught: each chunk is authenticated as it is read, and
the stream stops short of its Content-Length, which every client reports as a broken download.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from django.contrib.auth.models import User
from django.http import StreamingHttpResponse

from webadmit_dash.collection import archive, choosing, naming
from webadmit_dash.collection.envelope import Tampered
from webadmit_dash.collection.models import CollectedFile
from webadmit_dash.core import crypto
from webadmit_dash.core.models import DownloadEvent, ExportFile
from webadmit_dash.core.problems import DownloadOutcome

logger = logging.getLogger(__name__)

_TELL = "Tell whoever runs webadmit-dash: the archive may have been changed or damaged."

# A media type as RFC 9110 spells one, parameters allowed; anything else recorded is served as plain bytes.
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[A-Za-z0-9_.-]+=[A-Za-z0-9_.\"-]+)*$")


class ArchiveRefused(Exception):
    """The archived copy could not be served; the words (and the attributes download_error.html reads of an
    attempt) are for the error page and the API's answer."""

    outcome = DownloadOutcome.ARCHIVE_TAMPERED
    http_status = 500  # our archive's fault, and one for whoever runs it: counted with the server's errors
    retry_after = None

    def __init__(self, title: str, message: str) -> None:
        super().__init__(title, message)
        self.title = title
        self.message = message

    def __str__(self) -> str:
        return self.message


def archived_copy(export_file: ExportFile) -> CollectedFile | None:
    """The file's archived copy, when there is one to serve (collected, not pruned); None for a batch (its zips)."""
    return _in_archive(export_file, piece=CollectedFile.Piece.FILE)


def archived_zip(batch: ExportFile, part: int) -> CollectedFile | None:
    """The archived copy of one zip of a batch ("part 2 of 3"), when there is one to serve."""
    return _in_archive(batch, piece=CollectedFile.Piece.ZIP, part=part)


def _in_archive(export_file: ExportFile, **piece: object) -> CollectedFile | None:
    collected = CollectedFile.objects.filter(
        export_file=export_file, state=CollectedFile.State.COLLECTED, **piece
    ).first()
    return collected if collected is not None and collected.in_archive else None


def download_name(collected: CollectedFile) -> str:
    """The name the browser saves it under: the default delivery name, safe for any file system (collection.naming),
    so it is also safe inside a quoted Content-Disposition."""
    return choosing.file_name(collected, naming.DEFAULT_TEMPLATE)


def serve(collected: CollectedFile, user: User) -> StreamingHttpResponse:
    """The archived copy as an attachment, verified first, and the download audited. Raises ArchiveRefused (audited
    too) when the copy fails its check, is missing, or its data key cannot be unwrapped: nothing is served then."""
    chunks = verified_chunks(collected, user)
    response = StreamingHttpResponse(chunks, content_type=_content_type(collected.content_type))
    response["Content-Length"] = str(collected.size)
    response["Content-Disposition"] = f'attachment; filename="{download_name(collected)}"'
    # Applicants' personal data: no cache (the browser's or a proxy's) keeps a copy.
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def verified_chunks(collected: CollectedFile, user: User) -> Iterator[bytes]:
    """The archived copy's bytes, verified whole first and the download audited (as `serve` does, for the bulk
    zip too). Raises ArchiveRefused (audited) when the copy fails its check; a copy changed after the check ends
    short (each chunk is authenticated as it is read)."""
    assert collected.size is not None
    name = f"The archived copy of {collected.export_name} (file {collected.file_webadmit_id}{collected.piece_words})"
    try:
        archive.verify(collected.storage_name, collected.wrapped_key, size=collected.size, sha256=collected.sha256)
    except Tampered as error:
        logger.error("Archived copy of file %s failed its integrity check: %s", collected.file_webadmit_id, error)
        message = f"{name} failed its integrity check: {error.reason}. It was not served."
        raise _refused(collected, user, f"{message} {_TELL}") from None
    except crypto.UndecryptableSecret:
        logger.error("Archived copy of file %s cannot be opened with ENCRYPTION_KEYS", collected.file_webadmit_id)
        message = f"{name} cannot be opened: its key is not one the configured encryption keys open."
        raise _refused(collected, user, f"{message} It was not served. {_TELL}") from None
    except OSError as error:  # FileNotFoundError included: a folder or a bucket that lost it
        logger.error("Archived copy of file %s cannot be read: %s", collected.file_webadmit_id, error)
        why = "it is missing from the archive" if isinstance(error, FileNotFoundError) else "the archive cannot be read"
        raise _refused(collected, user, f"{name} could not be read: {why}. It was not served. {_TELL}") from None
    # A zip is audited as a download of its batch, saying which zip (as engine.downloads does for WebAdMIT's).
    _audit(collected, user, DownloadOutcome.FROM_ARCHIVE, collected.piece_label)
    return _stream(collected)


def _stream(collected: CollectedFile) -> Iterator[bytes]:
    try:
        yield from archive.plaintext(collected.storage_name, collected.wrapped_key)
    except Tampered as error:
        # Changed after the check: the client sees a download cut short of its Content-Length.
        logger.error("Archived copy of file %s changed while it was served: %s", collected.file_webadmit_id, error)


def _content_type(recorded: str) -> str:
    return recorded if recorded and _MEDIA_TYPE.match(recorded) else "application/octet-stream"


def _refused(collected: CollectedFile, user: User, message: str) -> ArchiveRefused:
    _audit(collected, user, DownloadOutcome.ARCHIVE_TAMPERED, message)
    return ArchiveRefused("Archived copy not served", message)


def _audit(collected: CollectedFile, user: User, outcome: str, message: str) -> None:
    DownloadEvent.objects.create(
        user=user,
        export_file_id=collected.export_file_id,
        file_webadmit_id=collected.file_webadmit_id,
        outcome=outcome,
        message=message,
    )
