"""Reaching the services CI runs (PostgreSQL, Redis): skip on a laptop without them, fail in CI."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.processes import stop_process
from tests.support.waiting import free_port


def service_unavailable(name: str, url: str, reason: str) -> None:
    message = f"{name} is not reachable at {url} ({reason})"
    if os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}; REQUIRE_SERVICES is set, so this is a failure, not a skip")
    pytest.skip(f"{message}; start {name} to run this test")


class OwnRedis:
    """A Redis server of a test's own on a free port, so that stopping it stops nobody else's; it can be stopped and
    started again on the same port (a broker outage and its end)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_unavailable("redis-server", "PATH", "not installed")
        self.binary = str(binary)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        ping = ["redis-cli", "-p", str(self.port), "ping"]
        while subprocess.run(ping, capture_output=True).stdout.strip() != b"PONG":
            assert time.monotonic() < deadline, "the test's Redis did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@contextlib.contextmanager
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    try:
        redis.start()
        yield redis
    finally:
        redis.stop()
