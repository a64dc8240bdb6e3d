"""What WebAdMIT sends, made fit to store: every text cleaned (NUL removed, NFC) and cut to its column.

WebAdMIT's names and statuses are free text typed by people. SQLite stores anything, but PostgreSQL refuses a NUL
and anything longer than a varchar's length, so one hostile name would fail every refresh of its identity there.
Everything the engine stores from WebAdMIT passes through here first, and the diff compares the cleaned values, so
a value cut to fit is not seen as changed on every refresh.

Cutting loses nothing that matters: the ids (never cut) say which identity, export or file a row is, a name of a
few hundred characters is already more than any page shows, and `href` is kept for reference only (downloads ask
E5 by id). The columns' lengths are read from the models, so they stay the one place that sets them.
"""

from __future__ import annotations

import dataclasses
from functools import cache

from django.db import models

from webadmit_dash.core import text
from webadmit_dash.core.models import Export, ExportFile, UserIdentity
from webadmit_dash.webadmit import types


@cache
def _max_length(model: type[models.Model], field: str) -> int | None:
    found = model._meta.get_field(field)
    assert isinstance(found, models.Field), field  # a concrete column
    return found.max_length


def fit(model: type[models.Model], field: str, value: str | None) -> str:
    """The text WebAdMIT sent (None as empty) as the model's column can store it."""
    return text.clean(value or "", _max_length(model, field))


def export_file(item: types.ExportFile) -> types.ExportFile:
    """A listed file with its texts fit to store (the same object when they already were: the usual case)."""
    href, raw_status = fit(ExportFile, "href", item.href), fit(ExportFile, "raw_status", item.raw_status)
    if href == item.href and raw_status == item.raw_status:
        return item
    return dataclasses.replace(item, href=href, raw_status=raw_status)


def export_fields(item: types.Export) -> dict[str, str]:
    """An export's name, list type, format and mime type (E3), as stored."""
    return {name: fit(Export, name, getattr(item, name)) for name in ("name", "list_type", "format", "mime_type")}


def template_fields(item: types.PdfManagerTemplate) -> dict[str, str]:
    """A PDF Manager template's name, list name and document source title (P1), as stored."""
    return {name: fit(Export, name, getattr(item, name)) for name in ("name", "list_name", "document_source_title")}


def identity_fields(item: types.UserIdentity) -> dict[str, str]:
    """An identity's names from E1, as stored."""
    return {
        name: fit(UserIdentity, name, getattr(item, name))
        for name in ("type", "association", "institution", "organization", "cycle")
    }
