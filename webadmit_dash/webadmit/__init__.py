"""The WebAdMIT boundary: an HTTP client, typed results, status parsing and one error family.

Knows nothing of Django, so it can be used (and tested) on its own.
"""

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
from .statuses import DOWNLOADABLE, OUTCOMES, RUNNING, UNFINISHED, FileStatus, parse_status
from .types import DownloadLink, Export, ExportFile, RateLimit, UserIdentity

__all__ = [
    "DOWNLOADABLE",
    "OUTCOMES",
    "RUNNING",
    "UNFINISHED",
    "USER_AGENT",
    "BadResponse",
    "Download",
    "DownloadBroken",
    "DownloadLink",
    "Export",
    "ExportFile",
    "FileStatus",
    "KeyRejected",
    "LinkExpired",
    "NotFound",
    "RateLimit",
    "RateLimited",
    "RequestRejected",
    "UpstreamUnavailable",
    "UserIdentity",
    "WebAdmitClient",
    "WebAdmitError",
    "make_session",
    "open_download",
    "parse_status",
]
