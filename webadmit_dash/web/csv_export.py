"""The Recent Files list as CSV, for spreadsheets and scripts: the page's own selection (listing.scope), every row
of it, in the page's order.

- UTF-8 with a byte-order mark, so Excel opens accents and non-Latin names correctly.
- Safe to open in a spreadsheet: a text cell starting with =, +, -, @ (or a tab or carriage return, which some
  spreadsheets skip before reading a formula) gets a leading apostrophe, so an export named `=HYPERLINK(...)` is
  shown as text instead of run as a formula (OWASP's advice for CSV injection).
- Streamed: the rows are read in keyset pages of CHUNK (pagination.rows_after) and written as they are read, so
  memory stays the same for 100 or 100,000 rows, and no long-lived cursor holds the database.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime

from django.http import StreamingHttpResponse

from webadmit_dash.web import pagination
from webadmit_dash.web.listing import Scope
from webadmit_dash.web.pagination import SortKey

CHUNK = 2000
# Lines handed to the server at once: one write per line would cost a system call per row.
LINES_PER_WRITE = 200
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER = [
    "File id",
    "Export",
    "Export id",
    "Format",
    "Identity",
    "CAS",
    "Cycle",
    "Status",
    "WebAdMIT status",
    "Status changed at (UTC)",
    "First seen at (UTC)",
    "Expired at (UTC)",
]


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet will not run as a formula; numbers and empty cells pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""  # stored in UTC (USE_TZ)


def rows(scope: Scope) -> Iterator[list[object]]:
    """Every file the scope lists, as CSV cells, read CHUNK at a time after the last row read."""
    identities = {identity.pk: identity for identity in scope.identities}
    key: SortKey | None = None
    while True:
        chunk = pagination.rows_after(scope.listed, key, CHUNK)
        for export_file in chunk:
            identity = identities[export_file.identity_id]
            export = export_file.export
            yield [
                export_file.webadmit_id,
                export.name if export else "",
                export_file.export_webadmit_id,
                export.format if export else "",
                identity.title,
                identity.association,
                identity.cycle,
                export_file.status_enum.label,
                export_file.raw_status,
                _when(export_file.status_changed_at),
                _when(export_file.first_seen_at),
                _when(export_file.gone_at),
            ]
        if len(chunk) < CHUNK:
            return
        key = SortKey.of(chunk[-1])


class _Line:
    """csv.writer writes into this, and gets the line back instead of it going to a file."""

    def write(self, line: str) -> str:
        return line


def lines(scope: Scope) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield BOM + writer.writerow(HEADER)
    batch: list[str] = []
    for row in rows(scope):
        batch.append(writer.writerow([safe_cell(cell) for cell in row]))
        if len(batch) >= LINES_PER_WRITE:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def response(scope: Scope, now: datetime) -> StreamingHttpResponse:
    streamed = StreamingHttpResponse(lines(scope), content_type="text/csv; charset=utf-8")
    streamed["Content-Disposition"] = f'attachment; filename="recent-files-{now:%Y%m%d-%H%M}.csv"'
    streamed["Cache-Control"] = "private, no-store"
    return streamed
