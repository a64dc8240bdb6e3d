"""The Recent Files list as CSV, for spreadsheets and scripts: the page's own selection (listing.scope), every row
of it, in the page's order.

- UTF-8 with a byte-order mark, so Excel opens accents and non-Latin names correctly.
- Safe to open in a spreadsheet, following OWASP's advice on CSV injection (safe_cell): a text cell that a
  spreadsheet could read as a formula gets a leading apostrophe, so an export named `=HYPERLINK(...)` is shown as
  text instead of run; and every cell is quoted (embedded quotes doubled), so a `,` or `;` inside a name never
  starts a cell of its own.
- Streamed: the rows are read in keyset pages of CHUNK (pagination.rows_after) and written as they are read, so
  memory stays the same for 100 or 100,000 rows, and no long-lived cursor holds the database.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime

from django.http import StreamingHttpResponse

from webadmit_dash.core import states
from webadmit_dash.core.models import ExportFile
from webadmit_dash.core.spreadsheet import BOM, safe_cell
from webadmit_dash.core.states import FileState
from webadmit_dash.web import listing, pagination
from webadmit_dash.web.listing import Scope
from webadmit_dash.web.pagination import SortKey

CHUNK = 2000
# Lines handed to the server at once: one write per line would cost a system call per row.
LINES_PER_WRITE = 200
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
    # Last, so scripts reading the columns before them by position keep working.
    "Needs attention",
    "Delivery",
    # core.states: the same words as the page's rows and the API's `state`.
    "State",
    "Handled by",
    "Handled at (UTC)",
    # core's Kind label: "Export file" or "PDF Manager batch" (a batch's export is its template, its format blank).
    "Kind",
]
# What collection did with a file, in the row mark's words (listing.FileRow.handover).
_HANDOVER = {"delivered": "Delivered", "delivery-failed": "Delivery failed", "": ""}


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""  # stored in UTC (USE_TZ)


def _handled(export_file: ExportFile, state: FileState) -> tuple[str, str]:
    """Who or what handled the file, and when (read from listing.for_rows' columns): the person who acknowledged it,
    or the later run that superseded it."""
    annotated = vars(export_file)
    if state is FileState.ACKNOWLEDGED:
        return annotated.get("acknowledged_name") or "someone", _when(export_file.acknowledged_at)
    if state is FileState.SUPERSEDED and annotated.get("rerun_webadmit_id") is not None:
        return f"Later run (file {annotated['rerun_webadmit_id']})", _when(annotated.get("rerun_changed_at"))
    return "", ""


def rows(scope: Scope) -> Iterator[list[object]]:
    """Every file the scope lists, as CSV cells, read CHUNK at a time after the last row read."""
    identities = {identity.pk: identity for identity in scope.identities}
    key: SortKey | None = None
    while True:
        chunk = pagination.rows_after(scope.listed, key, CHUNK, scope.order)
        for export_file in chunk:
            identity = identities[export_file.identity_id]
            export = export_file.export
            state = states.state_of(export_file)
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
                # core.states, as the page's title, chips and order read it.
                "yes" if state is FileState.NEEDS_ATTENTION else "no",
                _HANDOVER[listing.handover(export_file)],
                state.label,
                *_handled(export_file, state),
                export_file.kind_enum.label,
            ]
        if len(chunk) < CHUNK:
            return
        key = SortKey.of(chunk[-1], scope.order)


class _Line:
    """csv.writer writes into this, and gets the line back instead of it going to a file."""

    def write(self, line: str) -> str:
        return line


def lines(scope: Scope) -> Iterator[str]:
    # Every cell quoted (OWASP): numbers too, which spreadsheets still read as numbers.
    writer = csv.writer(_Line(), quoting=csv.QUOTE_ALL)
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
