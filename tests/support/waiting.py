"""Waiting in tests: poll a condition until it holds (generously: the machine is shared), and free loopback ports.

eventually(lambda: server.received(), what="the mail")  # returns the condition's truthy value
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    condition: Callable[[], T],
    timeout: float = 30.0,
    what: str = "the condition",
    *,
    every: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> T:
    """Polls until `condition()` is truthy and returns its value; raises TimeoutError naming `what` otherwise,
    followed by `detail()` (a log's end, say) when given."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"gave up waiting for {what} after {timeout:.0f} s" + (f":\n{detail()}" if detail else "")
            )
        time.sleep(every)


# How often a test's own HTTP server looks for its shutdown: serve_forever's default of 0.5 s makes every stop, so
# every test using one, half a second longer.
SERVER_POLL_INTERVAL = 0.05


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
