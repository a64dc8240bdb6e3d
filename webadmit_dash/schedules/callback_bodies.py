"""What a call to the callback address says about the run its token was given for, read by the run's kind: an
export's run is called back with E4's form fields (`export_file[id]`, `export_file[export_id]`,
`export_file[status]`), a PDF Manager batch with the batch itself as JSON, the shape of its GET (the SPEC, "PDF
Manager": `{"pdf_manager_batch": {"id": 6348, "state": "available", ...}}`), read by the client's own parser.

Either is a hint only (nothing signs it): the ids must name the token's run, and the status or state is kept for
the log, never stored; the refresh the call asks for reads WebAdMIT. The request's Content-Type is not relied on
(the SPEC does not record the one WebAdMIT sends): a batch's body must parse as its batch, whatever it is labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from webadmit_dash.core import text
from webadmit_dash.core.models import Kind, RunRequest
from webadmit_dash.webadmit import batch_from_callback

# A batch's JSON is some hundreds of bytes (a line per zip of up to 1 GB); anything larger is not WebAdMIT's call,
# and is refused before it is read.
BATCH_BODY_MAX = 64 * 1024


@dataclass(frozen=True)
class Said:
    """What a call says: `problem` why it is refused ("" when it is about the token's run), which run it is about
    and what it says of it (for the log only)."""

    problem: str
    about: str
    state: str = ""


def read(request: HttpRequest, run_request: RunRequest) -> Said:
    if kind_of(run_request) == Kind.PDF_BATCH:
        return _batch(request, run_request)
    return _export_file(request, run_request)


def kind_of(run_request: RunRequest) -> Kind:
    """The kind of run the token was given for: its row's, or (a row gone) the row Run again was used on. Schedules,
    which start export runs only, name no row."""
    row = run_request.run or run_request.requested_from
    return row.kind_enum if row is not None else Kind.EXPORT


def _export_file(request: HttpRequest, run_request: RunRequest) -> Said:
    """E4's call names the file's and the export's ids: a call naming others is not about this run."""
    about = f"file {run_request.run_webadmit_id} of export {run_request.export_webadmit_id}"
    for field, expected in (
        ("export_file[id]", run_request.run_webadmit_id),
        ("export_file[export_id]", run_request.export_webadmit_id),
    ):
        given = request.POST.get(field, "").strip()
        if not given:
            return Said(f"{field} is missing", about)
        if not (given.isascii() and given.isdigit() and len(given) <= 20) or int(given) != expected:
            return Said(f"{field} is {text.one_line(given, 40)!r}, not {expected}", about)
    return Said("", about, text.one_line(request.POST.get("export_file[status]", ""), 40))


def _batch(request: HttpRequest, run_request: RunRequest) -> Said:
    """P3's call is the batch, which must be this run's batch of this template."""
    about = f"batch {run_request.run_webadmit_id} of template {run_request.export_webadmit_id}"
    size = _declared_size(request)
    if size is None or size > BATCH_BODY_MAX:
        return Said(f"a body of {size if size is not None else 'unknown'} bytes is no batch", about)
    try:
        batch = batch_from_callback(request.body)
    except ValueError as problem:
        return Said(text.one_line(str(problem), 200), about)
    for name, given, expected in (
        ("pdf_manager_batch.id", batch.id, run_request.run_webadmit_id),
        ("pdf_manager_batch.pdf_manager_template.id", batch.template.id, run_request.export_webadmit_id),
    ):
        if given != expected:
            return Said(f"{name} is {given}, not {expected}", about)
    return Said("", about, text.one_line(batch.raw_state, 40))


def _declared_size(request: HttpRequest) -> int | None:
    """The body's size as its Content-Length says (the server reads no more than that); None when it says none."""
    raw = request.META.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None
