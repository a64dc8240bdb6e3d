"""Download as zip: the selected files in one streamed zip, with an index CSV saying what each entry is.

Streamed with zipstream-ng: each file's bytes go into the zip as they arrive, and nothing is written to disk or held
whole in memory. A file comes from the archive when collection kept a copy (verified first, by `collection.serving`),
else from WebAdMIT: its link is asked for just before its bytes are read (`engine.batches.fetch`), one file after
another, so no link outlives its ~30 s life. Every file is audited as a single download is (DownloadEvent). A file
that cannot be had is a line of the index with the reason, never a broken zip; one that breaks off part-way keeps
what arrived and the index says it is incomplete.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import User
from django.http import StreamingHttpResponse
from zipstream import ZIP_DEFLATED, ZipStream

from webadmit_dash.collection import naming, serving
from webadmit_dash.collection.models import CollectedFile
from webadmit_dash.core.models import ExportFile
from webadmit_dash.core.spreadsheet import BOM, safe_cell
from webadmit_dash.engine import batches, downloads
from webadmit_dash.webadmit.download import Download
from webadmit_dash.webadmit.errors import WebAdmitError

logger = logging.getLogger(__name__)

INDEX_NAME = "index.csv"
INDEX_HEADER = ["File", "File id", "Identity", "Export", "Status", "Size (bytes)", "Error"]
_NAME_STEM_LIMIT = 120


@dataclass
class Entry:
    """One selected file as the index lists it: its name in the zip (empty when it is not there), size, error."""

    export_file: ExportFile
    archived: CollectedFile | None = None
    name: str = ""
    size: int = 0
    expected: int | None = None  # the size it should have, when known: a shorter entry is incomplete
    error: str = ""
    _source: Iterator[bytes] | None = field(default=None, repr=False)

    @property
    def needs_call(self) -> bool:
        """Whether the file would be fetched from WebAdMIT (one call of the budget)."""
        return self.archived is None and _unavailable(self.export_file) == ""


def plan(files: list[ExportFile]) -> list[Entry]:
    """The entries for these files, with their archived copies found (no WebAdMIT call yet)."""
    return [Entry(export_file, serving.archived_copy(export_file)) for export_file in files]


def _unavailable(export_file: ExportFile) -> str:
    """Why WebAdMIT cannot have the file, without asking it ("" when it may)."""
    if export_file.gone_at is not None:
        return "Expired: WebAdMIT no longer lists this file, and the archive has no copy."
    status = export_file.status_enum
    if not status.is_downloadable:
        return downloads.not_downloadable_reason(status)
    return ""


def _zip_name(export_file: ExportFile, offered: str | None, taken: set[str]) -> str:
    """ "207434_Interview_Roster_Cafe_Session.csv": the file id first, so names never collide and sort by run."""
    stem, dot, ext = (offered or export_file.export_name).rpartition(".")
    if not dot or len(ext) > 8:
        stem, ext = offered or export_file.export_name, ""
    safe = naming.safe_part(stem)[:_NAME_STEM_LIMIT] or "file"
    name = f"{export_file.webadmit_id}_{safe}" + (f".{naming.safe_part(ext)}" if naming.safe_part(ext) else "")
    while name in taken or name == INDEX_NAME:
        name = f"{export_file.webadmit_id}_{len(taken)}_{safe}"
    taken.add(name)
    return name


def _open(entry: Entry, user: User, taken: set[str]) -> None:
    """Opens the entry's bytes (entry._source) or says why not (entry.error); audited either way."""
    export_file = entry.export_file
    if entry.archived is not None:
        try:
            entry._source = serving.verified_chunks(entry.archived, user)
        except serving.ArchiveRefused as refused:
            entry.error = refused.message
            return
        entry.expected = entry.archived.size
        entry.name = _zip_name(export_file, serving.download_name(entry.archived), taken)
        return
    entry.error = _unavailable(export_file)
    if entry.error:
        return
    fetched = batches.fetch(export_file, user)
    if fetched.download is None:
        entry.error = fetched.problem
        return
    entry.expected = fetched.download.length
    entry.name = _zip_name(export_file, fetched.download.file_name, taken)
    entry._source = _closing(fetched.download)


def _closing(download: Download) -> Iterator[bytes]:
    with download:
        yield from download.chunks()


def _counted(entry: Entry, source: Iterator[bytes]) -> Iterator[bytes]:
    """The entry's bytes, counted; a break part-way ends the entry (the zip goes on) and is said in the index."""
    try:
        for chunk in source:
            entry.size += len(chunk)
            yield chunk
    except WebAdmitError as error:
        logger.info("Zip entry of file %s broke off: %s", entry.export_file.webadmit_id, error.kind)
        entry.error = f"Incomplete: {error.message}"
        return
    if entry.expected is not None and entry.size != entry.expected and not entry.error:
        entry.error = f"Incomplete: it ended after {entry.size:,} of {entry.expected:,} bytes."


def index_csv(entries: list[Entry]) -> bytes:
    """The index: one line per selected file, safe to open in a spreadsheet (web.csv_export's rules)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(INDEX_HEADER)
    for entry in entries:
        export_file = entry.export_file
        cells: list[object] = [
            entry.name,
            export_file.webadmit_id,
            export_file.identity.display_name,
            export_file.export_name,
            export_file.status_enum.label,
            entry.size if entry.name else "",
            entry.error,
        ]
        writer.writerow([safe_cell(cell) for cell in cells])
    return (BOM + out.getvalue()).encode("utf-8")


def stream(entries: list[Entry], user: User) -> Iterator[bytes]:
    """The zip, file by file: each is opened (its link asked for) only once the previous one is written."""
    archive = ZipStream(compress_type=ZIP_DEFLATED, compress_level=6)
    taken: set[str] = set()
    for entry in entries:
        _open(entry, user, taken)
        if entry._source is None:
            continue
        archive.add(_counted(entry, entry._source), entry.name)
        yield from archive.all_files()
    archive.add(index_csv(entries), INDEX_NAME)
    yield from archive.finalize()


def response(entries: list[Entry], user: User, now: datetime) -> StreamingHttpResponse:
    streamed = StreamingHttpResponse(stream(entries, user), content_type="application/zip")
    streamed["Content-Disposition"] = f'attachment; filename="recent-files-{now:%Y%m%d-%H%M}.zip"'
    # Applicants' personal data: no cache (the browser's or a proxy's) keeps a copy.
    streamed["Cache-Control"] = "private, no-store"
    streamed["X-Content-Type-Options"] = "nosniff"
    return streamed
