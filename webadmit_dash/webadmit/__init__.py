"""The WebAdMIT boundary: an HTTP client, typed results, status parsing and one error family; export files and
PDF Manager's templates, batches and zips.

Knows nothing of Django, so it can be used (and tested) on its own.
"""

from .batch_states import BATCH_DOWNLOADABLE, BATCH_OUTCOMES, BatchState, parse_batch_state
from .client import USER_AGENT, WebAdmitClient, make_session
from .download import Download, DownloadBroken, LinkExpired, open_download
from .errors import (
    BadResponse,
    KeyRejected,
    NotFound,
    RateLimited,
    RequestRejected,
    UpstreamUnavailable,
    WebAdmitError,
)
from .pdf_manager import batch_from_callback
from .statuses import DOWNLOADABLE, OUTCOMES, RUNNING, UNFINISHED, FileStatus, parse_status
from .types import (
    DownloadLink,
    Export,
    ExportFile,
    PdfManagerBatch,
    PdfManagerTemplate,
    PdfManagerTemplateRef,
    PdfManagerZipLink,
    RateLimit,
    UserIdentity,
)

__all__ = [
    "BATCH_DOWNLOADABLE",
    "BATCH_OUTCOMES",
    "DOWNLOADABLE",
    "OUTCOMES",
    "RUNNING",
    "UNFINISHED",
    "USER_AGENT",
    "BadResponse",
    "BatchState",
    "Download",
    "DownloadBroken",
    "DownloadLink",
    "Export",
    "ExportFile",
    "FileStatus",
    "KeyRejected",
    "LinkExpired",
    "NotFound",
    "PdfManagerBatch",
    "PdfManagerTemplate",
    "PdfManagerTemplateRef",
    "PdfManagerZipLink",
    "RateLimit",
    "RateLimited",
    "RequestRejected",
    "UpstreamUnavailable",
    "UserIdentity",
    "WebAdmitClient",
    "WebAdmitError",
    "batch_from_callback",
    "make_session",
    "open_download",
    "parse_batch_state",
    "parse_status",
]
