"""What the benchmarks that drive a dashboard share: a free port to serve it on, and the poll address a page gives."""

from __future__ import annotations

import re
import socket

_POLLER = re.compile(r'<div id="poller"[^>]*hx-get="([^"]+)"', re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll_path(html: str) -> str | None:
    """The address the page's poller asks (as htmx reads it from the attribute), or None if it has no poller."""
    found = _POLLER.search(html)
    return found.group(1).replace("&amp;", "&") if found else None
