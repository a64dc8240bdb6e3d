"""The production web server in a subprocess: gunicorn with several worker processes, as the Dockerfile runs it,
against the test database and the test process's broker (like tests/support/worker.py's Celery worker).

    with GunicornServer(workers=2, env={"METRICS_TOKEN": "..."}) as server:
        requests.get(f"{server.url}/readyz")
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import requests
from django.conf import settings

from tests.support.processes import stop_process
from tests.support.waiting import free_port
from tests.support.worker import worker_database_url


class GunicornServer:
    def __init__(self, *, workers: int = 2, env: Mapping[str, str] | None = None) -> None:
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log", delete=False)  # noqa: SIM115

    def command(self) -> list[str]:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        # The Dockerfile's command, on a loopback port of its own.
        return [gunicorn, "webadmit_dash.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                "--threads", "4", "--access-logfile", "-"]  # fmt: skip

    def start(self, timeout: float = 60.0) -> Self:
        env = {**os.environ, "DATABASE_URL": worker_database_url(), "PYTHONUNBUFFERED": "1", **self.extra_env}
        env.setdefault("DATA_DIR", str(settings.DATA_DIR))
        self.process = subprocess.Popen(
            self.command(), cwd=settings.BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.log()[-4000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200 and self._all_booted():
                    return self
            time.sleep(0.2)
        raise TimeoutError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log()[-4000:]}")

    def _all_booted(self) -> bool:
        return self.log().count("Booting worker with pid") >= self.workers

    def get(self, path: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", 20)
        return requests.get(f"{self.url}{path}", **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
