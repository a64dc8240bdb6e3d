"""The WebAdMIT boundary: an HTTP client, typed results, status parsing and one error family.

Knows nothing of Django, so it can be used (and tested) on its own.
"""

from .client import USER_AGENT, WebAdmitClient, make_session
from .errors import (
    BadResponse,
    KeyRejected,
    NotFound,
    RateLimited,
    RequestRejected,
    UpstreamUnavailable,
    WebAdmitError,
)
from .statuses import DOWNLOADABLE, OUTCOMES, RUNNING, UNFINISHED, FileStatus, parse_status
from .types import DownloadLink, Export, ExportFile, RateLimit, UserIdentity

__all__ = [
    "DOWNLOADABLE",
    "OUTCOMES",
    "RUNNING",
    "UNFINISHED",
    "USER_AGENT",
    "BadResponse",
    "DownloadLink",
    "Export",
    "ExportFile",
    "FileStatus",
    "KeyRejected",
    "NotFound",
    "RateLimit",
    "RateLimited",
    "RequestRejected",
    "UpstreamUnavailable",
    "UserIdentity",
    "WebAdmitClient",
    "WebAdmitError",
    "make_session",
    "parse_status",
]
