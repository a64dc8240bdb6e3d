"""Reading PDF Manager's payloads (the SPEC, "PDF Manager"): templates, batches and a zip's redirect.

Strict about what the dashboard uses (ids, state, when it changed, the zips), silent about everything else, like the
export files' parsers in client.py. A batch's callback sends the same JSON as its GET: `batch_from_callback` reads it
with the same rules, so the endpoint that receives it needs no parser of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .batch_states import parse_batch_state
from .parsing import (
    ShapeError,
    as_object,
    integer,
    items,
    optional_text,
    required,
    single,
    text,
    text_list,
    timestamp,
)
from .types import PdfManagerBatch, PdfManagerTemplate, PdfManagerTemplateRef

# A zip's href (its path, the query cut off), as the SPEC records it:
# /api/v1/user_identities/280464/pdf_manager_zip_files/287866/download
_ZIP_PATH = re.compile(r".*/pdf_manager_zip_files/(\d+)/download/?")


def templates_from(payload: Mapping[str, Any]) -> list[PdfManagerTemplate]:
    return [_template(item, where) for item, where in items(payload, "pdf_manager_templates")]


def template_from(payload: Mapping[str, Any]) -> PdfManagerTemplate:
    return _template(single(payload, "pdf_manager_template"), "pdf_manager_template")


def batches_from(payload: Mapping[str, Any]) -> list[PdfManagerBatch]:
    return [_batch(item, where) for item, where in items(payload, "pdf_manager_batches")]


def batch_from(payload: Mapping[str, Any]) -> PdfManagerBatch:
    return _batch(single(payload, "pdf_manager_batch"), "pdf_manager_batch")


def batch_from_callback(body: bytes | str) -> PdfManagerBatch:
    """The batch a PDF Manager callback describes (JSON of the same shape as its GET). ValueError says what is
    wrong with a body that is not one; nothing in the callback is signed, so treat it as a hint to look again."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: arrays nested thousands deep, which anyone can send to the address.
        raise ValueError("the callback's body is not JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("the callback's body is not a JSON object")
    try:
        return batch_from(payload)
    except ShapeError as problem:
        detail = problem.detail
    raise ValueError(f"the callback's body is a batch {detail}")


def _template(item: Mapping[str, Any], where: str) -> PdfManagerTemplate:
    return PdfManagerTemplate(
        id=integer(item, "id", where),
        href=text(item, "href", where),
        name=text(item, "name", where),
        list_name=optional_text(item, "list_name", where),
        document_source_title=optional_text(item, "document_source_title", where),
    )


def _batch(item: Mapping[str, Any], where: str) -> PdfManagerBatch:
    raw_state = text(item, "state", where)
    template_where = f"{where}.pdf_manager_template"
    template = as_object(required(item, "pdf_manager_template", where), template_where)
    hrefs = None if item.get("download_hrefs") is None else tuple(text_list(item, "download_hrefs", where))
    return PdfManagerBatch(
        id=integer(item, "id", where),
        href=text(item, "href", where),
        state=parse_batch_state(raw_state),
        raw_state=raw_state,
        updated_at=timestamp(item, "updated_at", where),
        template=PdfManagerTemplateRef(
            id=integer(template, "id", template_where),
            name=optional_text(template, "name", template_where),
            href=optional_text(template, "href", template_where),
        ),
        download_hrefs=hrefs,
        zip_file_ids=tuple(
            _zip_file_id(href, f"{where}.download_hrefs[{index}]") for index, href in enumerate(hrefs or ())
        ),
    )


def _zip_file_id(href: str, where: str) -> int:
    path = re.split(r"[?#]", href, maxsplit=1)[0]
    found = _ZIP_PATH.fullmatch(path)
    if found is None:
        raise ShapeError(f"with '{where}' that names no zip file")
    return int(found[1])
