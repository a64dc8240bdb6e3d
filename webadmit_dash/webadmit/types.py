"""Typed results of WebAdMIT calls: plain frozen values, parsed once at the boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .batch_states import BatchState
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


@dataclass(frozen=True, slots=True)
class PdfManagerTemplate:
    """A PDF Manager template (P1, P2): which list's applicants, which of their documents. Read-only in WebAdMIT."""

    id: int
    href: str
    name: str
    list_name: str | None
    document_source_title: str | None


@dataclass(frozen=True, slots=True)
class PdfManagerTemplateRef:
    """The template a batch was made from, as the batch names it (`href` and `name` kept as sent, when sent)."""

    id: int
    name: str | None
    href: str | None


@dataclass(frozen=True, slots=True)
class PdfManagerBatch:
    """One PDF Manager batch (P3-P5, and its callback). `state` is parsed, `raw_state` kept as sent.

    `download_hrefs` is None when the payload had none: P4's listing never sends them, so a batch's zips come from
    its own GET (P5). Sent, it is empty until the batch is available or success_with_errors. `zip_file_ids` are the
    zips those hrefs name, in order, for `get_pdf_manager_zip_link`; a batch can have several (1 GB per zip).
    """

    id: int
    href: str
    state: BatchState
    raw_state: str
    updated_at: datetime
    template: PdfManagerTemplateRef
    download_hrefs: tuple[str, ...] | None
    zip_file_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PdfManagerZipLink:
    """Where a batch's zip can be fetched (P6's redirect): a pre-signed link that needs no API key and dies soon.

    Like `DownloadLink`, a bearer credential: left out of repr/str, to be used at once and never stored.
    `minted_at` is taken before the request is sent.
    """

    zip_file_id: int
    url: str = field(repr=False)
    minted_at: datetime
