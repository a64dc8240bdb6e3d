"""PDF Manager on the wire: the JSON shapes of templates and batches (the SPEC, "PDF Manager"), and the checks P3
makes of the body that starts a batch, refused in the JSON-schema words WebAdMIT uses for a 422.

The body must be the documented `{"pdf_manager_batch": {"pdf_manager_template_id": N, "callback"?: "https://…"}}`.
A public client posts it unwrapped (`{"pdf_manager_template_id": N}`); whether WebAdMIT takes that is unconfirmed,
so the simulator refuses it, and a client that sends it is caught here rather than in production.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .pdf_manager import BatchSnapshot, SimTemplate

_CALLBACK = "#/pdf_manager_batch/callback"


def template_payload(template: SimTemplate) -> dict[str, Any]:
    return {
        "href": _template_href(template),
        "id": template.id,
        "name": template.name,
        "list_name": template.list_name,
        "document_source_title": template.document_source_title,
    }


def batch_payload(batch: BatchSnapshot) -> dict[str, Any]:
    """A batch as P4 lists it: no `download_hrefs` there. Keys in the order of the SPEC's recorded callback."""
    return {
        "id": batch.id,
        "state": batch.state,  # lower snake case always: `--lowercase-statuses` is about export files only
        "updated_at": datetime.fromtimestamp(int(batch.updated_at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pdf_manager_template": {
            "id": batch.template.id,
            "name": batch.template.name,
            "href": _template_href(batch.template),
        },
        "href": f"/api/v1/user_identities/{batch.identity_id}/pdf_manager_batches/{batch.id}",
    }


def single_batch_payload(batch: BatchSnapshot) -> dict[str, Any]:
    """A batch as P3 and P5 answer it and its callback sends it: with `download_hrefs`, empty until it can be
    downloaded."""
    hrefs = [zip_href(batch.identity_id, zip_id) for zip_id in batch.zip_file_ids] if batch.downloadable else []
    return {"pdf_manager_batch": {**batch_payload(batch), "download_hrefs": hrefs}}


def zip_href(identity_id: int, zip_file_id: int) -> str:
    return f"/api/v1/user_identities/{identity_id}/pdf_manager_zip_files/{zip_file_id}/download"


def _template_href(template: SimTemplate) -> str:
    return f"/api/v1/user_identities/{template.identity_id}/pdf_manager_templates/{template.id}"


@dataclass(frozen=True)
class BatchRequest:
    """What a P3 body asks for; `problems` (WebAdMIT's 422 `schema` list) is empty when it can be done."""

    template_id: int | None = None
    callback: str | None = None
    problems: list[str] = field(default_factory=list)


def read_batch_request(body: bytes, *, http_callbacks: bool = False) -> BatchRequest:
    """Checks a P3 body as WebAdMIT's schema does. `http_callbacks` lets `http://` callbacks through, for a local
    demo whose dashboard has no TLS; WebAdMIT itself takes only `https://`."""
    try:
        parsed: Any = json.loads(body) if body.strip() else {}
    except ValueError:
        parsed = body.decode("utf-8", errors="replace")
    if not isinstance(parsed, dict):
        kind = _json_type(parsed)
        return BatchRequest(problems=[f"The property '#/' of type {kind} did not match the following type: object"])
    if "pdf_manager_batch" not in parsed:
        return BatchRequest(problems=["The property '#/' did not contain a required property of 'pdf_manager_batch'"])
    batch = parsed["pdf_manager_batch"]
    if not isinstance(batch, dict):
        return BatchRequest(
            problems=[
                f"The property '#/pdf_manager_batch' of type {_json_type(batch)} did not match the following type: "
                "object"
            ]
        )
    problems = []
    template_id = batch.get("pdf_manager_template_id")
    if "pdf_manager_template_id" not in batch:
        problems.append(
            "The property '#/pdf_manager_batch' did not contain a required property of 'pdf_manager_template_id'"
        )
    elif type(template_id) is not int:
        problems.append(
            "The property '#/pdf_manager_batch/pdf_manager_template_id' of type "
            f"{_json_type(template_id)} did not match the following type: integer"
        )
    callback = batch.get("callback")
    if callback is not None:
        problem = callback_problem(callback, http_callbacks=http_callbacks)
        if problem:
            problems.append(problem)
    if problems:
        return BatchRequest(problems=problems)
    return BatchRequest(template_id, callback)


def callback_problem(value: object, *, http_callbacks: bool = False) -> str:
    """Why P3 refuses `value` as a batch's callback, in WebAdMIT's words; "" when it takes it. Its schema asks only
    that the text match `^https://`."""
    if not isinstance(value, str):
        return f"The property '{_CALLBACK}' of type {_json_type(value)} did not match the following type: string"
    if value.startswith("https://") or (http_callbacks and value.startswith("http://")):
        return ""
    shown = json.dumps(value, ensure_ascii=False)
    return f"The property '{_CALLBACK}' value {shown} did not match the regex '^https://'"


def _json_type(value: object) -> str:
    """The JSON-schema name of a value's type, as WebAdMIT's messages give it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
