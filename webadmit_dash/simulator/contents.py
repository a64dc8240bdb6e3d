"""Export files of a chosen size, made on demand: deterministic bytes per (file id, size, content type).

With a file size set (`--file-size`), the simulator serves files of exactly that many bytes. Their bytes are a pure
function of the file id, the size and the content type, so a test or a benchmark knows a file's SHA-256 and line count
without downloading it (`expected_sha256`, `expected_line_count`), and the simulator streams a 500 MB file in small
chunks instead of holding it.

Text formats are made of whole lines ending in CRLF, as WebAdMIT writes them: a header, applicant rows, and for HTML
a closing line. CSV and the fixed-width report are Latin-1 (the SPEC: `text/csv;charset=iso-8859-1`), the Excel
export is tab-separated Latin-1 text (as the simulator's small files are), HTML is UTF-8. To land on the exact size,
the last row's last cell is padded with spaces. A size too small for a header and one row gives the first `size`
bytes of such a file. A zip ("CSV in multiple files") holds two such CSV files, stored (not compressed) so that its
size is exact; one too small to hold them is plain deterministic bytes.

Speed matters more than variety here (the collection benchmark downloads gigabytes): a file is a block of rows drawn
once per file id and repeated, so making 500 MB costs about what copying it does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape

# About how much one yielded chunk holds: large enough that a socket write per chunk costs nothing, small enough
# that a server streaming many files at once stays small.
CHUNK_SIZE = 256 * 1024
_POOL_ROWS = 256

# The columns of every simulated export file, small or sized.
COLUMNS = (
    "CAS ID",
    "First Name",
    "Last Name",
    "Email",
    "Decision",
    "Cumulative GPA",
    # Repeated field groups carry _0, _1, ... suffixes in WebAdMIT exports.
    "College Attended_0",
    "College Attended_1",
    "College Attended_2",
    "Recommender Name_0",
    "Recommender Name_1",
)
_NAMES = (
    ("José", "García"),
    ("Zoë", "Achterberg"),
    ("Lukas", "Müller"),
    ("François", "Lefèvre"),
    ("Siobhán", "O'Brien"),
    ("Björn", "Åkesson"),
    ("Anaïs", "Noël"),
    ("Nuño", "Peña"),
    ("Chloé", "Dubois"),
    ("Maria", "Smith"),
)
_COLLEGES = ("Universidad de Sevilla", "Université Laval", "Ohio State University", "Technische Universität Wien")
_DECISIONS = ("Admitted", "Waitlisted", "Denied", "Under Review")
_FIXED_WIDTHS = (12, 14, 14, 28, 14, 16, 30, 30, 30, 24, 0)

_SIZE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[kmg]i?b|b)?", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str) -> int:
    """A file size from the command line: `1234` (bytes), `5MB`, `500MB`, `1.5GB`, `64KiB`; ValueError otherwise."""
    found = _SIZE.fullmatch(text.strip())
    if found is None:
        raise ValueError(
            f"{text!r} is not a file size: give a number of bytes (1234) or one with a unit (5MB, 500MB, 64KiB)"
        )
    size = int(float(found["number"]) * _UNITS[(found["unit"] or "b").lower()])
    if size < 1:
        raise ValueError(f"{text!r} is not a file size: a file must hold at least one byte")
    return size


def file_bytes(file_id: int, size: int, content_type: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The file's bytes, exactly `size` of them, in chunks of about `chunk_size`; ValueError for a content type
    WebAdMIT does not export."""
    if size < 0:
        raise ValueError("a file size cannot be negative")
    layout = _layout(file_id, content_type)
    if layout is None:
        yield from _zip(file_id, size, chunk_size)
        return
    budget = size - len(layout.prefix) - len(layout.suffix)
    rows = layout.rows
    if budget < len(rows[0]):
        # Too small for a header and one whole row: the first bytes of such a file.
        yield (layout.prefix + rows[0] + layout.suffix)[:size]
        return
    yield layout.prefix
    # Whole rows while they fit; then the last row (the one before the first that does not fit) gets the rest as
    # padding. Rows repeat with period len(rows), so whole blocks of them are counted rather than walked.
    block = b"".join(rows)
    repeats = max(chunk_size // len(block), 1)
    big_block = block * repeats
    full_blocks, rest = divmod(budget, len(big_block))
    tail_rows: list[bytes] = []
    used = 0
    for row in (rows * repeats)[: len(rows) * repeats]:
        if used + len(row) > rest:
            break
        tail_rows.append(row)
        used += len(row)
    padding = rest - used
    if not tail_rows:
        # Not even the first row fits after the last whole block: that block's last row takes the padding.
        full_blocks -= 1
        tail_rows = (rows * repeats)[:]
        padding = rest
    for _ in range(full_blocks):
        yield big_block
    last = tail_rows.pop()
    tail = b"".join(tail_rows)
    yield tail + _pad(last, padding, layout.pad_before) + layout.suffix


def expected_sha256(file_id: int, size: int, content_type: str) -> str:
    """The hex SHA-256 of the file `file_bytes` makes, without a download."""
    digest = hashlib.sha256()
    for chunk in file_bytes(file_id, size, content_type):
        digest.update(chunk)
    return digest.hexdigest()


def expected_line_count(file_id: int, size: int, content_type: str) -> int | None:
    """How many lines (line feeds) the file holds, or None for a format that is not text (a zip)."""
    if _layout(file_id, content_type) is None:
        return None
    return sum(chunk.count(b"\n") for chunk in file_bytes(file_id, size, content_type))


@dataclass(frozen=True, slots=True)
class _Layout:
    prefix: bytes
    rows: list[bytes]  # each a whole line; the pool that repeats
    suffix: bytes
    pad_before: bytes  # padding goes just before the last occurrence of this in the last row


def _format(content_type: str) -> str:
    mime = content_type.split(";")[0].strip().lower()
    formats = {
        "text/csv": "csv",
        "application/vnd.ms-excel": "xls",
        "text/plain": "txt",
        "text/html": "html",
        "application/zip": "zip",
    }
    if mime not in formats:
        raise ValueError(f"WebAdMIT exports no files of type {content_type!r}")
    return formats[mime]


def _layout(file_id: int, content_type: str) -> _Layout | None:
    kind = _format(content_type)
    if kind == "zip":
        return None
    rng = random.Random(f"contents:{file_id}")
    records = [_record(rng) for _ in range(_POOL_ROWS)]
    if kind in ("csv", "xls"):
        delimiter = "," if kind == "csv" else "\t"
        rows = [_delimited([record], delimiter) for record in records]
        return _Layout(_delimited([list(COLUMNS)], delimiter), rows, b"", b"\r\n")
    if kind == "txt":
        rows = [_fixed(record) for record in records]
        return _Layout(_fixed(list(COLUMNS)), rows, b"", b"\r\n")
    head = "".join(f"<th>{escape(column)}</th>" for column in COLUMNS)
    prefix = f"<html><head><meta charset='utf-8'><title>Export {file_id}</title></head><body><table>\r\n"
    prefix += f"<tr>{head}</tr>\r\n"
    rows = [
        ("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in record) + "</tr>\r\n").encode() for record in records
    ]
    return _Layout(prefix.encode(), rows, b"</table></body></html>\r\n", b"</td></tr>\r\n")


def _record(rng: random.Random) -> list[str]:
    first, last = rng.choice(_NAMES)
    colleges = rng.sample(_COLLEGES, rng.randint(1, 3))
    recommender_first, recommender_last = rng.choice(_NAMES)
    return [
        str(rng.randrange(10**9, 10**10)),
        first,
        last,
        f"applicant{rng.randrange(1000, 9999)}@example.org",
        rng.choice(_DECISIONS),
        f"{rng.uniform(2.8, 4.0):.2f}",
        *[*colleges, "", "", ""][:3],
        f"{recommender_first} {recommender_last}",
        "",  # the last cell, where the last row's padding goes
    ]


def _delimited(records: list[list[str]], delimiter: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(records)
    return buffer.getvalue().encode("iso-8859-1", errors="replace")


def _fixed(record: list[str]) -> bytes:
    line = "".join(cell.ljust(width) for cell, width in zip(record, _FIXED_WIDTHS, strict=True)).rstrip()
    return (line + "\r\n").encode("iso-8859-1", errors="replace")


def _pad(row: bytes, padding: int, before: bytes) -> bytes:
    at = row.rindex(before)
    return row[:at] + b" " * padding + row[at:]


# A zip entry's fixed parts: local header, data descriptor, central directory entry; and the end record.
_LOCAL, _DESCRIPTOR, _CENTRAL, _END = 30, 16, 46, 22
_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01, zip's epoch: a fixed date keeps the bytes the same


def _zip(file_id: int, size: int, chunk_size: int) -> Iterator[bytes]:
    """Two stored CSV members, each followed by a data descriptor (its CRC is known only once it is written), so
    the archive streams in one pass; Python's zipfile and unzip read it."""
    names = [f"{file_id}_{number}.csv".encode() for number in (1, 2)]
    overhead = sum(_LOCAL + _DESCRIPTOR + _CENTRAL + 2 * len(name) for name in names) + _END
    budget = size - overhead
    if budget < 2 or size >= 2**32:
        yield from _binary(file_id, size, chunk_size)  # too small for two files, or past what zip's 32 bits hold
        return
    sizes = [budget // 2, budget - budget // 2]
    central, offset = b"", 0
    for number, (name, member_size) in enumerate(zip(names, sizes, strict=True)):
        flags, method = 0x08, 0  # sizes and CRC in a descriptor after the data; stored
        yield struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, _DOS_DATE, 0, 0, 0, len(name), 0) + name
        crc = 0
        for chunk in file_bytes(file_id * 2 + number, member_size, "text/csv", chunk_size):
            crc = zlib.crc32(chunk, crc)
            yield chunk
        yield struct.pack("<IIII", 0x08074B50, crc, member_size, member_size)
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            flags,
            method,
            0,
            _DOS_DATE,
            crc,
            member_size,
            member_size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += name
        offset += _LOCAL + len(name) + member_size + _DESCRIPTOR
    yield central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(central), offset, 0)


def _binary(file_id: int, size: int, chunk_size: int) -> Iterator[bytes]:
    # The repeating block is fixed, whatever the chunk size, so the bytes do not depend on how they are read.
    block = random.Random(f"contents:{file_id}:binary").randbytes(64 * 1024)
    big_block = block * max(chunk_size // len(block), 1)
    full, rest = divmod(size, len(big_block))
    for _ in range(full):
        yield big_block
    if rest:
        yield big_block[:rest]
