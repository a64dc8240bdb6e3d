"""The name a delivered file gets: a delivery rule's template filled in, then made safe for any file system.

Export and identity names are free text from WebAdMIT (slashes, CR/LF, NUL, accents, 10,000 characters): each field
is reduced to letters, digits and a few separators before it is put in, so no name can climb out of a folder, hide
a line break or exceed what file systems and S3 keys allow.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

DEFAULT_TEMPLATE = "{export}_{finished:%Y%m%d_%H%M}_{file_id}.{ext}"
FIELDS = ("export", "identity", "cycle", "file_id", "export_id", "ext", "finished")
MAX_LENGTH = 200  # well under the 255 bytes of common file systems, with room for a temporary suffix
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BadTemplate(ValueError):
    """A file-name template that cannot be filled in, in words for the admin form."""


@dataclass(frozen=True)
class NameFields:
    export: str
    identity: str
    cycle: str
    file_id: int
    export_id: int
    ext: str
    finished: datetime


def safe_part(text: str) -> str:
    """Letters (accents folded to ASCII), digits, '.', '_' and '-'; every other run of characters becomes one '_'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _UNSAFE.sub("_", folded).strip("._-")


def check_template(template: str) -> None:
    """Raises BadTemplate unless the template names only known fields with valid formats."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise BadTemplate(f"The file name template is not valid: {error}.") from None
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        if field_name not in FIELDS:
            known = ", ".join("{" + name + "}" for name in FIELDS)
            raise BadTemplate(f"The file name template uses {{{field_name}}}, which is not one of {known}.")
    example = NameFields("Export", "Identity", "2026 - 2027", 1, 2, "csv", datetime(2026, 1, 2, 3, 4, 5))
    render(template, example)


def render(template: str, fields: NameFields) -> str:
    """The template filled in with safe parts, itself made safe: never empty, never a path, at most MAX_LENGTH."""
    finished = fields.finished.astimezone(ZoneInfo(settings.TIME_ZONE))
    values: dict[str, Any] = {
        "export": safe_part(fields.export) or "export",
        "identity": safe_part(fields.identity) or "identity",
        "cycle": safe_part(fields.cycle),
        "file_id": fields.file_id,
        "export_id": fields.export_id,
        "ext": safe_part(fields.ext) or "dat",
        "finished": finished,
    }
    try:
        name = template.format(**values)
    except (KeyError, ValueError, IndexError, AttributeError) as error:
        raise BadTemplate(f"The file name template cannot be filled in: {error}.") from None
    return with_suffix(safe_part(name), "")


def with_suffix(name: str, suffix: str) -> str:
    """A safe name with `suffix` (safe itself, e.g. "_part2of3") put before its extension, the stem cut so that the
    whole stays within MAX_LENGTH."""
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = extension, ""
    stem = stem[: MAX_LENGTH - len(extension) - len(suffix) - 1] or "file"
    return f"{stem}{suffix}.{extension}" if extension else f"{stem}{suffix}"
