"""The callbacks, as WebAdMIT makes them: when a run started with a `callback` URL (E4) reaches a final status
(Available, Success With Errors, Empty List, Failed), the URL is form-POSTed `export_file[id]`,
`export_file[export_id]` and `export_file[status]`; when a PDF Manager batch started with one (P3) reaches a final
state, the URL is POSTed JSON, the batch as its own GET (P5) shows it (the SPEC: "PDF Manager").

The world moves by its clock alone (data.py: nothing runs in the background), so a watcher thread looks at the
runs awaiting a call a few times a second and calls as each finishes, in a thread of its own with a short timeout:
a slow or dead receiver never holds up the API or the other calls. Errors are logged, never retried (WebAdMIT does
not document retries). The control API's settings drop every call (`"callbacks": "drop"`), as a lost call would
be, or delay each (`"delay"`, `callback_delay` seconds), as a slow WebAdMIT would.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, cast, get_args
from urllib.parse import urlencode, urlsplit

from .data import OUTCOMES, FileState, SimulatedWorld
from .pdf_manager import OUTCOMES as BATCH_OUTCOMES
from .pdf_manager import BatchSnapshot
from .pdf_payloads import single_batch_payload

logger = logging.getLogger(__name__)

Mode = Literal["on", "drop", "delay"]
MODES: tuple[str, ...] = get_args(Mode)
WATCH_EVERY = 0.1  # seconds between two looks at the runs awaiting a call
TIMEOUT = 5.0  # seconds a receiver has to answer
USER_AGENT = "WebAdMIT-simulator (callback)"


@dataclass(frozen=True)
class Call:
    """One call made (or dropped): to where, about which file or batch, and what came of it (an HTTP status, or the
    error). A batch's call has a `batch_id` and its state in `status`, and no file."""

    url: str
    file_id: int | None
    export_id: int | None
    status: str
    outcome: str  # "204", "404"... or "dropped", or the error's name
    at: float
    batch_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        if self.batch_id is not None:
            return {"url": self.url, "batch_id": self.batch_id, "state": self.status, "outcome": self.outcome}
        return {"url": self.url, "file_id": self.file_id, "status": self.status, "outcome": self.outcome}


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
        self._pending_batches: dict[int, list[str]] = {}
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._watcher: threading.Thread | None = None

    def register(self, state: FileState, url: str) -> None:
        """A run was started (or found running) with a callback: call `url` when it finishes."""
        with self._lock:
            self._pending.setdefault(state.id, []).append(url)
            self._start_watching()
        self._wake.set()

    def register_batch(self, batch: BatchSnapshot, url: str) -> None:
        """A PDF Manager batch was started with a callback: call `url` when it finishes."""
        with self._lock:
            self._pending_batches.setdefault(batch.id, []).append(url)
            self._start_watching()
        self._wake.set()

    def _start_watching(self) -> None:
        """Call under the lock. Started with the first callback, so a simulator nobody asks to call back runs no
        thread."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="simulator-callbacks", daemon=True)
            self._watcher.start()

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
            pending = sum(len(urls) for urls in [*self._pending.values(), *self._pending_batches.values()])
            calls = [call.as_dict() for call in self.calls[-100:]]
        return {"pending": pending, "made": len(self.calls), "recent": calls}

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)

    def check(self) -> None:
        """Calls about every awaited run and batch that has finished by now (the watcher's turn; tests may call it
        too)."""
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
        with self._lock:
            waiting_batches = list(self._pending_batches)
        for batch_id in waiting_batches:
            batch = self.world.pdf_manager.batch(batch_id)
            if batch is not None and batch.state not in BATCH_OUTCOMES:
                continue
            with self._lock:
                urls = self._pending_batches.pop(batch_id, [])
            if batch is None:
                continue  # dropped off the list before it finished
            for url in urls:
                self._dispatch_batch(url, batch)

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
        body = urlencode(
            {"export_file[id]": state.id, "export_file[export_id]": state.export_id, "export_file[status]": status}
        ).encode()
        call = Call(url, state.id, state.export_id, status, "", 0.0)
        self._send(call, body, "application/x-www-form-urlencoded", f"file {state.id}")

    def _dispatch_batch(self, url: str, batch: BatchSnapshot) -> None:
        body = json.dumps(single_batch_payload(batch), ensure_ascii=False).encode()
        call = Call(url, None, None, batch.state, "", 0.0, batch_id=batch.id)
        self._send(call, body, "application/json; charset=utf-8", f"batch {batch.id}")

    def _send(self, call: Call, body: bytes, content_type: str, about: str) -> None:
        """Makes the call now, later (`delay`) or never (`drop`), from a thread of its own."""
        if self.mode == "drop":
            self._record(replace(call, outcome="dropped", at=time.time()))
            logger.info("simulator: callback for %s dropped, as the settings ask", about)
            return
        delay = self.delay if self.mode == "delay" else 0.0
        args = (call, body, content_type, about)
        caller = (
            threading.Timer(delay, self._post, args) if delay > 0 else threading.Thread(target=self._post, args=args)
        )
        caller.daemon = True
        caller.start()

    def _post(self, call: Call, body: bytes, content_type: str, about: str) -> None:
        # http(s) only: the scheme was checked when E4 or P3 took the URL.
        request = urllib.request.Request(  # noqa: S310
            call.url,
            data=body,
            method="POST",
            headers={"Content-Type": content_type, "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                outcome = str(response.status)
        except urllib.error.HTTPError as error:
            outcome = str(error.code)
        except Exception as error:
            # urllib wraps a refused or timed-out connection in URLError: its reason names what happened.
            outcome = type(getattr(error, "reason", None) or error).__name__
            logger.warning("simulator: callback for %s to %s failed: %s", about, call.url, error)
        self._record(replace(call, outcome=outcome, at=time.time()))

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
            del self.calls[:-1000]  # a long-running demo keeps the latest only
