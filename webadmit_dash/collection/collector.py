"""Collecting one file: a fresh link from WebAdMIT, the bytes streamed into the archive within the link's life, and
the proof recorded (size, SHA-256, lines for text, content type), in one pass over the download. The link is the
piece's source: E5 for an export file, P6 for one zip of a PDF Manager batch (everything else is the same). A
batch's index CSV has no link: it is made from its zips once they are all archived (zip_index), and kept the same
way; until then it waits without spending tries, and it fails for good when a zip did.

A link that dies before or during the stream (LinkExpired, DownloadBroken) is asked for again at once, up to
LINK_TRIES times; what was written of a broken stream is deleted by the archive. Other failures follow the error's
nature: a rate limit or the collection share waits as long as it says; a rejected key waits for its fix without
spending tries; a file WebAdMIT no longer has (or cannot give) fails for good with WebAdMIT's reason; anything
else that may pass is retried with backoff (retries.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from webadmit_dash.collection import archive, choosing, retries, zip_index
from webadmit_dash.collection.claims import Holder, LostClaim
from webadmit_dash.collection.envelope import Tampered
from webadmit_dash.collection.models import CollectedFile
from webadmit_dash.collection.signals import file_collected
from webadmit_dash.core import crypto
from webadmit_dash.core.models import ExportFile
from webadmit_dash.core.text import one_line
from webadmit_dash.engine import collecting
from webadmit_dash.webadmit import download
from webadmit_dash.webadmit.errors import KeyRejected, NotFound, RateLimited, WebAdmitError

logger = logging.getLogger(__name__)

LINK_TRIES = 3
KEY_FIX_WAIT = timedelta(minutes=5)  # a rejected key is checked by the engine; collection looks again after this


@dataclass(frozen=True)
class Outcome:
    collected: bool
    message: str = ""
    deliveries: tuple[int, ...] = ()


class LineCounter:
    """Counts lines of a text file as its chunks pass (a last line without its line break counts too)."""

    def __init__(self) -> None:
        self.breaks = 0
        self.last = b""

    def __call__(self, chunk: bytes) -> None:
        if chunk:
            self.breaks += chunk.count(b"\n")
            self.last = chunk[-1:]

    @property
    def lines(self) -> int:
        return self.breaks + (1 if self.last not in (b"", b"\n") else 0)


def is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("text/") or kind in {"application/csv", "application/json", "application/xml"}


def collect(collected_id: int, token: str | datetime) -> Outcome:
    """Collects the file the dispatcher claimed with `token`; does nothing if that claim is no longer the file's."""
    holder = Holder.start(CollectedFile, collected_id, token)
    if holder is None:
        return Outcome(False, "a repeated or outdated message: nothing done")
    collected = CollectedFile.objects.select_related("export_file__identity__credential").get(pk=collected_id)
    if retries.out_of_tries(collected.attempts - 1):
        # Every earlier try was started and never finished: its worker died (out of memory, killed) each time.
        tries = collected.attempts - 1
        return _failed_for_good(holder, collected, f"gave up after {tries} tries: the transfer never finished")
    export_file = collected.export_file
    if export_file is None:
        return _failed_for_good(
            holder, collected, "WebAdMIT's record of this file was removed before it was collected."
        )
    if collected.piece == CollectedFile.Piece.INDEX:
        return _index(holder, collected, export_file)
    last_error: WebAdmitError | None = None
    try:
        for _ in range(LINK_TRIES):
            try:
                return _fetch(holder, collected, _link(collected, export_file))
            except (download.LinkExpired, download.DownloadBroken) as error:
                last_error = error  # the link died: ask for a new one at once
                logger.info("File %s: %s; asking WebAdMIT for a new link", collected.file_webadmit_id, error.message)
    except LostClaim:
        return Outcome(False, "another worker took over")
    except RateLimited as error:
        wait = timedelta(seconds=error.retry_after or 60)
        return _later(holder, collected, error.message, wait=wait, count=False)
    except KeyRejected as error:
        return _later(holder, collected, error.message, wait=KEY_FIX_WAIT, count=False)
    except (NotFound, collecting.NotReady) as error:
        return _failed_for_good(holder, collected, error.message)
    except WebAdmitError as error:
        if error.permanent:
            return _failed_for_good(holder, collected, error.message)
        last_error = error
    assert last_error is not None
    return _later(holder, collected, last_error.message, wait=None, count=True)


def _link(collected: CollectedFile, export_file: ExportFile) -> collecting.Link:
    """The piece's source: a zip's link (P6), or an export file's (E5)."""
    if collected.piece == CollectedFile.Piece.ZIP:
        assert collected.zip_webadmit_id is not None  # a zip's place is checked by the table
        return collecting.zip_link(export_file, collected.zip_webadmit_id)
    return collecting.download_link(export_file)


def _fetch(holder: Holder, collected: CollectedFile, link: collecting.Link) -> Outcome:
    connect_timeout, read_timeout = link.timeouts
    with download.open_download(
        collecting.session(), link.url, connect_timeout=connect_timeout, read_timeout=read_timeout
    ) as opened:
        lines = LineCounter() if is_text(opened.content_type) else None
        kept = archive.keep(holder.through(opened.chunks()), observe=lines)
    return _kept(holder, collected, kept, opened.content_type, lines)


def _index(holder: Holder, collected: CollectedFile, batch: ExportFile) -> Outcome:
    """The batch's index CSV, made from its archived zips once every one is there."""
    zips = list(CollectedFile.objects.filter(export_file=batch, piece=CollectedFile.Piece.ZIP).order_by("part"))
    waiting = [piece for piece in zips if piece.state == CollectedFile.State.WAITING]
    if waiting:
        message = f"Waiting for zip {waiting[0].part} of {waiting[0].parts} to be collected first."
        return _later(holder, collected, message, wait=retries.retry_delay(1), count=False)
    missing = [piece for piece in zips if not piece.in_archive]
    if missing or not zips or len(zips) != zips[0].parts:
        why = (
            f"zip {missing[0].part} of {missing[0].parts} is not in the archive ({missing[0].get_state_display()})"
            if missing
            else "the batch's zips are not all known"
        )
        return _failed_for_good(holder, collected, f"The index cannot be made: {why}.")
    lines = LineCounter()
    try:
        kept = archive.keep(holder.through(zip_index.csv_chunks(zips)), observe=lines)
    except LostClaim:
        return Outcome(False, "another worker took over")
    except (zip_index.Unreadable, Tampered, crypto.UndecryptableSecret, OSError) as error:
        return _failed_for_good(holder, collected, f"The index cannot be made from the archived zips: {error}")
    return _kept(holder, collected, kept, zip_index.CONTENT_TYPE, lines)


def _kept(
    holder: Holder, collected: CollectedFile, kept: archive.Archived, content_type: str, lines: LineCounter | None
) -> Outcome:
    """Records the proof of what was kept, and the deliveries it now owes; or undoes the keeping when the claim
    was lost meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        settled = holder.settle(
            state=CollectedFile.State.COLLECTED,
            storage_name=kept.storage_name,
            wrapped_key=kept.wrapped_key,
            size=kept.size,
            sha256=kept.sha256,
            line_count=lines.lines if lines is not None else None,
            content_type=one_line(content_type, 100),
            collected_at=now,
            last_error="",
        )
        if not settled:
            transaction.on_commit(lambda: archive.delete(kept.storage_name))
            return Outcome(False, "another worker took over")
        collected.refresh_from_db()
        owed = choosing.owe_deliveries(collected)
    file_collected.send(sender=CollectedFile, size=kept.size)
    logger.info("Collected file %s%s: %s bytes", collected.file_webadmit_id, collected.piece_words, kept.size)
    return Outcome(True, deliveries=tuple(delivery.pk for delivery in owed))


def _later(holder: Holder, collected: CollectedFile, message: str, *, wait: timedelta | None, count: bool) -> Outcome:
    """Tried again later; a wait WebAdMIT or the budget asked for (`count` False) does not spend a try."""
    attempts = collected.attempts if count else collected.attempts - 1  # the start counted this try
    if count and retries.out_of_tries(attempts):
        return _failed_for_good(holder, collected, f"{message} (gave up after {attempts} tries)")
    delay = wait if wait is not None else retries.retry_delay(attempts)
    if not holder.settle(attempts=attempts, last_error=message, next_attempt_at=timezone.now() + delay):
        return Outcome(False, "another worker took over")
    logger.info("File %s not collected yet (%s); trying again in %s", collected.file_webadmit_id, message, delay)
    return Outcome(False, message)


def _failed_for_good(holder: Holder, collected: CollectedFile, message: str) -> Outcome:
    if not holder.settle(state=CollectedFile.State.FAILED, last_error=message):
        return Outcome(False, "another worker took over")
    logger.warning("File %s could not be collected: %s", collected.file_webadmit_id, message)
    return Outcome(False, message)
