"""A real Celery worker in a subprocess, for tests that need the whole engine (and the browser tests).

The worker runs our own `celery -A webadmit_dash worker --pool=threads` against the pytest-django test database
and the test process's broker, so tasks the test enqueues are executed exactly as in production. Tests that use
it must commit what the worker should see: request `transactional_db` (the fixture does) or `live_server`.

    from tests.support.worker import celery_worker_process  # in a conftest.py: re-exports the fixture
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.support.processes import stop_process
from webadmit_dash.celery import app as celery_app

READY_MARK = " ready."


def worker_database_url() -> str:
    """The test database as a DATABASE_URL for the worker (pytest-django has already created and named it)."""
    params = connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        name = str(params["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            raise RuntimeError("a worker subprocess cannot share an in-memory SQLite database")
        return f"sqlite:///{Path(name).resolve()}"
    credentials = quote(params["USER"] or "", safe="")
    if params["PASSWORD"]:
        credentials += ":" + quote(params["PASSWORD"], safe="")
    host = params["HOST"] or "127.0.0.1"
    port = f":{params['PORT']}" if params["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(params['NAME'], safe='')}"


def purge_queue() -> int:
    """Drops every waiting message, the collection queue's too, so a worker never runs tasks left over from another
    test."""
    purged = celery_app.control.purge() or 0
    with celery_app.connection_for_write() as connection:
        # kombu's channels all have queue_purge; its stubs type the channel as the bare StdChannel protocol.
        channel: Any = connection.default_channel
        purged += channel.queue_purge(settings.COLLECTION_QUEUE) or 0
    return purged


class CeleryWorker:
    """One worker subprocess: `start()`, then `stop()` (graceful) or `kill()` (SIGKILL, as a crash would).

    It consumes the default queue unless told otherwise: `queues=("celery", "collection")` makes it collect and
    deliver too, `queues=("collection",)` a collector as runstack starts one.
    """

    def __init__(
        self,
        *,
        concurrency: int = 4,
        beat: bool = False,
        env: Mapping[str, str] | None = None,
        name: str = "engine-test",
        queues: tuple[str, ...] = (),
    ) -> None:
        self.concurrency = concurrency
        self.beat = beat
        self.queues = queues
        self.extra_env = dict(env or {})
        self.hostname = f"{name}-{os.getpid()}@%h"
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(self._log.name)

    @property
    def pid(self) -> int:
        assert self.process is not None, "the worker is not running"
        return self.process.pid

    def command(self) -> list[str]:
        celery = str(Path(sys.executable).with_name("celery"))
        command = [
            celery,
            "-A",
            "webadmit_dash",
            "worker",
            "--pool=threads",
            f"--concurrency={self.concurrency}",
            f"--hostname={self.hostname}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        if self.queues:
            command += ["-Q", ",".join(self.queues)]
        if self.beat:
            # Its own schedule file: a worker killed with SIGKILL may leave a half-written one behind.
            command += ["--beat", f"--schedule={self.log_path.with_suffix('.schedule')}"]
        return command

    def environment(self) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": worker_database_url(), **self.extra_env}
        # The broker is the test process's own: inherited CELERY_BROKER_URL, or the filesystem folders under the
        # DATA_DIR both processes share (tests/settings.py puts DATA_DIR in the environment).
        env.setdefault("DATA_DIR", str(settings.DATA_DIR))
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self, timeout: float = 30.0) -> CeleryWorker:
        offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            self.command(),
            cwd=settings.BASE_DIR,
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: embedded beat runs in a child process, which a kill must take down too.
            start_new_session=True,
        )
        self._wait_for(lambda text: READY_MARK in text, timeout, offset, "become ready")
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown: SIGTERM lets running tasks finish; SIGKILL only if that takes too long."""
        if self.process is None:
            return
        # Whatever outlives the warm shutdown (a stuck task, an orphaned beat) goes with the SIGKILL to the group.
        stop_process(self.process, timeout)
        self.process = None

    def kill(self) -> None:
        """SIGKILL to the worker and its beat: no warm shutdown, no acknowledgements, no cleanup."""
        if self.process is not None:
            self._kill_group()
            self.process.wait()
            self.process = None

    def _kill_group(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        self._wait_for(lambda log: text in log, timeout, 0, f"log {text!r}")

    def count_in_log(self, text: str) -> int:
        return self.log().count(text)

    def close(self) -> None:
        self.stop()
        self._log.close()
        for path in self.log_path.parent.glob(f"{self.log_path.stem}.*"):
            path.unlink(missing_ok=True)

    def _wait_for(self, done: Callable[[str], bool], timeout: float, offset: int, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.log()[offset:]):
                return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited ({self.process.returncode}):\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"the Celery worker did not {what} within {timeout:.0f} s:\n{self.log()[-4000:]}")


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[CeleryWorker]:
    """A started worker (4 threads, no beat) on an empty queue; stopped cleanly after the test."""
    purge_queue()
    worker = CeleryWorker()
    try:
        yield worker.start()
    finally:
        worker.close()
