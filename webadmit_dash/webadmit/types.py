"""Typed results of WebAdMIT calls: plain frozen values, parsed once at the boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .statuses import FileStatus


@dataclass(frozen=True, slots=True)
class UserIdentity:
    """One person's access to one CAS cycle (E1). Ids change every admissions cycle."""

    id: int
    type: str
    association: str | None
    institution: str | None
    organization: str | None
    cycle: str | None


@dataclass(frozen=True, slots=True)
class Export:
    """A saved export definition (E2, E3): where file names and formats come from."""

    id: int
    name: str
    list_type: str | None
    format: str | None
    mime_type: str | None


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One run of an export (E4-E7): `href` and `export_id` are kept as sent, never derived."""

    id: int
    href: str
    export_id: int
    status: FileStatus
    raw_status: str


@dataclass(frozen=True, slots=True)
class DownloadLink:
    """A pre-signed download URL (E5), None while the file is not downloadable.

    The URL is a bearer credential that dies within 30 seconds: it is left out of repr/str so it never reaches
    a log line, and callers should redirect to it at once rather than store it.
    """

    file: ExportFile
    url: str | None = field(repr=False)
    minted_at: datetime


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The budget WebAdMIT reported on its latest response (None when a header was absent or unreadable)."""

    limit: int | None
    remaining: int | None
