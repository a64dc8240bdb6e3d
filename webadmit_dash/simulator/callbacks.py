"""E4's callback, as WebAdMIT makes it: when a run started with a `callback` URL reaches a final status (Available,
Success With Errors, Empty List, Failed), the URL is form-POSTed `export_file[id]`, `export_file[export_id]` and
`export_file[status]`.

The world moves by its clock alone (data.py: nothing runs in the background), so a watcher thread looks at the
runs awaiting a call a few times a second and calls as each finishes, in a thread of its own with a short timeout:
a slow or dead receiver never holds up the API or the other calls. Errors are logged, never retried (WebAdMIT does
not document retries). The control API's settings drop every call (`"callbacks": "drop"`), as a lost call would
be, or delay each (`"delay"`, `callback_delay` seconds), as a slow WebAdMIT would.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast, get_args
from urllib.parse import urlencode, urlsplit

from .data import OUTCOMES, FileState, SimulatedWorld

logger = logging.getLogger(__name__)

Mode = Literal["on", "drop", "delay"]
MODES: tuple[str, ...] = get_args(Mode)
WATCH_EVERY = 0.1  # seconds between two looks at the runs awaiting a call
TIMEOUT = 5.0  # seconds a receiver has to answer
USER_AGENT = "WebAdMIT-simulator (callback)"


@dataclass(frozen=True)
class Call:
    """One call made (or dropped): to where, about which file, and what came of it (an HTTP status, or the error)."""

    url: str
    file_id: int
    export_id: int
    status: str
    outcome: str  # "204", "404"... or "dropped", or the error's name
    at: float


def valid_url(url: object) -> str | None:
    """Why `url` cannot be called back ("" when it can); None when it is not text at all."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"The property '#/callback' value {url!r} is not an http(s) URI"
    return ""


def checked_callback_settings(mode: str | None, delay: float | None) -> tuple[Mode | None, float | None]:
    """The control API's callback settings, checked (ValueError says what is wrong)."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"'callbacks' must be one of {', '.join(map(repr, MODES))}, not {mode!r}")
    if delay is not None and not 0 <= delay <= 3600:
        raise ValueError("'callback_delay' must be between 0 and 3600 seconds")
    return cast(Mode | None, mode), delay


class Callbacks:
    """The runs awaiting a call, the watcher that makes them, and the record of calls made (for tests and state)."""

    def __init__(self, world: SimulatedWorld, status_text: Callable[[str], str]) -> None:
        self.world = world
        self._status_text = status_text  # the wire spelling the API uses (Title Case, or lowercase)
        self.mode: Mode = "on"
        self.delay = 0.0
        self._pending: dict[int, list[str]] = {}
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._watcher: threading.Thread | None = None

    def register(self, state: FileState, url: str) -> None:
        """A run was started (or found running) with a callback: call `url` when it finishes."""
        with self._lock:
            self._pending.setdefault(state.id, []).append(url)
            if self._watcher is None:
                # Started with the first callback, so a simulator nobody asks to call back runs no thread.
                self._watcher = threading.Thread(target=self._watch, name="simulator-callbacks", daemon=True)
                self._watcher.start()
        self._wake.set()

    def configure(self, mode: Mode | None, delay: float | None) -> None:
        """Changes what is given (see checked_callback_settings); None leaves a setting as it is."""
        if mode is not None:
            self.mode = mode
        if delay is not None:
            self.delay = delay

    def settings(self) -> dict[str, object]:
        return {"callbacks": self.mode, "callback_delay": self.delay}

    def summary(self) -> dict[str, object]:
        with self._lock:
            pending = sum(len(urls) for urls in self._pending.values())
            calls = [
                {"url": call.url, "file_id": call.file_id, "status": call.status, "outcome": call.outcome}
                for call in self.calls[-100:]
            ]
        return {"pending": pending, "made": len(self.calls), "recent": calls}

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)

    def check(self) -> None:
        """Calls about every awaited run that has finished by now (the watcher's turn; tests may call it too)."""
        with self._lock:
            waiting = list(self._pending)
        for file_id in waiting:
            state = self.world.file(file_id)
            if state is not None and state.status not in OUTCOMES:
                continue
            with self._lock:
                urls = self._pending.pop(file_id, [])
            if state is None:
                continue  # dropped off the list before it finished: WebAdMIT has nothing to call about
            for url in urls:
                self._dispatch(url, state)

    def _watch(self) -> None:
        while not self._stopped.is_set():
            try:
                self.check()
            except Exception:
                logger.exception("simulator callbacks: a look at the waiting runs failed")
            self._wake.wait(WATCH_EVERY)
            self._wake.clear()

    def _dispatch(self, url: str, state: FileState) -> None:
        status = self._status_text(state.status)
        if self.mode == "drop":
            self._record(Call(url, state.id, state.export_id, status, "dropped", time.time()))
            logger.info("simulator: callback for file %s dropped, as the settings ask", state.id)
            return
        delay = self.delay if self.mode == "delay" else 0.0
        args = (url, state, status)
        caller = (
            threading.Timer(delay, self._post, args) if delay > 0 else threading.Thread(target=self._post, args=args)
        )
        caller.daemon = True
        caller.start()

    def _post(self, url: str, state: FileState, status: str) -> None:
        body = urlencode(
            {"export_file[id]": state.id, "export_file[export_id]": state.export_id, "export_file[status]": status}
        ).encode()
        # http(s) only: valid_url checked the scheme when E4 took the URL.
        request = urllib.request.Request(  # noqa: S310
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                outcome = str(response.status)
        except urllib.error.HTTPError as error:
            outcome = str(error.code)
        except Exception as error:
            # urllib wraps a refused or timed-out connection in URLError: its reason names what happened.
            outcome = type(getattr(error, "reason", None) or error).__name__
            logger.warning("simulator: callback for file %s to %s failed: %s", state.id, url, error)
        self._record(Call(url, state.id, state.export_id, status, outcome, time.time()))

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
            del self.calls[:-1000]  # a long-running demo keeps the latest only
