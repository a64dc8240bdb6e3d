"""A batch's index CSV: per document in each of its zips, the zip's part, the document's file name and the
applicant's CAS ID (the name's first `_`-separated field, as PDF Manager names documents:
`<CAS ID>_<First>_<Last>_<Document source title>_<program id>_<Program name>.pdf`).

Read from each zip's central directory only, never a member's contents: a zip's directory is at its end, so the
archived copy is streamed through (verified first, as every read of the archive is) keeping only its last TAIL
bytes in memory, and zipfile reads its directory from those. Nothing is written anywhere in plaintext: the CSV is
kept in the archive (encrypted) like any collected file, and delivered from there.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence

from webadmit_dash.collection import archive
from webadmit_dash.collection.models import CollectedFile
from webadmit_dash.core.spreadsheet import BOM, safe_cell

# How much of a zip's end is kept to read its directory from: a directory of 1,000 documents (PDF Manager's most)
# with long names is under 300 KB; the 64 KiB a zip's comment may take is in it too.
TAIL = 8 * 1024 * 1024
HEADER = ["Zip part", "File name", "CAS ID"]
CONTENT_TYPE = "text/csv; charset=utf-8"


class Unreadable(Exception):
    """A zip whose directory cannot be read (not a zip, or a directory larger than TAIL)."""


class _Tail(io.RawIOBase):
    """A file of `size` bytes of which only the last ones (`tail`) are at hand: all zipfile reads to list a zip.
    Reading before them raises Unreadable, so a member's contents are never read, even by mistake."""

    def __init__(self, tail: bytes, size: int) -> None:
        self._tail = tail
        self._size = size
        self._start = size - len(tail)
        self._position = 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = max(base + offset, 0)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._position + size, self._size)
        if self._position < self._start and end > self._position:
            raise Unreadable(f"its directory does not fit in the last {TAIL:,} bytes")
        data = self._tail[self._position - self._start : end - self._start]
        self._position += len(data)
        return data


def names_in(chunks: Iterable[bytes], size: int) -> list[str]:
    """The file names a zip's directory lists (folders left out), in its order, from the zip's bytes streamed
    through: only the last TAIL of them are kept."""
    tail = bytearray()
    for chunk in chunks:
        tail += chunk
        if len(tail) > 2 * TAIL:
            del tail[: len(tail) - TAIL]
    try:
        with zipfile.ZipFile(_Tail(bytes(tail[-TAIL:]), size)) as listed:
            return [info.filename for info in listed.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise Unreadable(f"it is not a zip that can be read ({error})") from None


def cas_id(file_name: str) -> str:
    """The applicant's CAS ID: the first `_`-separated field of the document's own name (any folder left out)."""
    return file_name.rsplit("/", 1)[-1].split("_", 1)[0]


def rows(zips: Sequence[CollectedFile]) -> Iterator[list[object]]:
    """One row per document of each archived zip, part 1 first. Tampered (or OSError) when a zip's archived copy
    fails its check; Unreadable when its directory cannot be read."""
    for piece in zips:
        assert piece.size is not None
        chunks = archive.read(piece.storage_name, piece.wrapped_key, size=piece.size, sha256=piece.sha256)
        for name in names_in(chunks, piece.size):
            yield [piece.part, name, cas_id(name)]


def csv_chunks(zips: Sequence[CollectedFile]) -> Iterator[bytes]:
    """The index as CSV (UTF-8 with a byte-order mark, every cell quoted and formula-safe), a zip at a time."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    out.write(BOM)
    writer.writerow(HEADER)
    current = None
    for row in rows(zips):
        if row[0] != current and out.tell():
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
        current = row[0]
        writer.writerow([safe_cell(cell) for cell in row])
    yield out.getvalue().encode("utf-8")
