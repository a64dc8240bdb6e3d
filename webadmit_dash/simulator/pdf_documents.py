"""What a PDF Manager zip holds: one small PDF per document, named as WebAdMIT names them, and no index file.

The SPEC gives the names' per-template pattern `<CAS ID>_<First>_<Last>_<Document source title>_<program id>_<Program
name>.pdf`; the names keep their accents (zipfile marks such names UTF-8). Each PDF is a real one-page PDF (a
catalogue, a page, Helvetica, a few lines of text, a cross-reference table), a few hundred bytes, so a reader or a
checker that opens it finds a PDF. The bytes depend only on what is passed in: a zip made twice is the same zip.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Document:
    """One applicant's document for one program, as a template picks it."""

    cas_id: str
    first_name: str
    last_name: str
    source_title: str
    program_id: int
    program_name: str

    @property
    def file_name(self) -> str:
        parts = (self.cas_id, self.first_name, self.last_name, self.source_title, self.program_id, self.program_name)
        return "_".join(str(part) for part in parts) + ".pdf"


def minimal_pdf(lines: Sequence[str]) -> bytes:
    """A one-page PDF showing `lines` in Helvetica. Text outside Windows-1252 (the font's encoding) shows as '?'."""
    text = ["BT", "/F1 12 Tf", "16 TL", "72 720 Td"]
    for line in lines:
        text.append(f"({_pdf_string(line)}) Tj T*")
    text.append("ET")
    content = "\n".join(text).encode("cp1252", errors="replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    # The second line's high bytes tell file-transfer tools that the file is binary, as PDF writers do.
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def zip_of(documents: Sequence[tuple[str, bytes]], when: float) -> bytes:
    """A zip of (name, bytes), every entry dated `when` (so the same documents always make the same bytes)."""
    stamp = time.gmtime(max(when, 315_532_800))[:6]  # zip dates start in 1980
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in documents:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _pdf_string(text: str) -> str:
    """`text` as the inside of a PDF literal string: backslashes and parentheses escaped, one line."""
    one_line = " ".join(text.split())
    return one_line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
