"""`make run`'s command: web server, worker with beat and simulator start together and stop together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_login_page(url: str, process: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "runstack exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback server
                return response.read().decode()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def children_of(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in result.stdout.split()]


def ping_worker(env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """`celery inspect ping`, retried: the worker may still be starting after the web server answers."""
    deadline = time.monotonic() + timeout
    while True:
        ping = subprocess.run(
            [CELERY, "-A", "webadmit_dash", "inspect", "ping", "--timeout", "5"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if "pong" in ping.stdout or time.monotonic() > deadline:
            return ping


@pytest.fixture
def stack_env(tmp_path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_URL", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="webadmit_dash.settings",
        DJANGO_ENV="development",
        DATA_DIR=str(tmp_path),
        WEBADMIT_ALLOW_LOOPBACK="true",
    )
    return env


def test_runstack_serves_login_page_answers_ping_and_stops_everything_on_ctrl_c(stack_env, tmp_path):
    web_port, simulator_port = free_port(), free_port()
    log = open(tmp_path / "runstack.log", "w+")  # noqa: SIM115 - read back after the process ends
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runstack", "--port", str(web_port), "--simulator-port", str(simulator_port)],
        cwd=PROJECT_ROOT,
        env=stack_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        page = wait_for_login_page(f"http://127.0.0.1:{web_port}/accounts/login/", process)
        assert 'name="password"' in page
        ping = ping_worker(stack_env)
        assert "pong" in ping.stdout, ping.stdout + ping.stderr
        children = children_of(process.pid)
        assert len(children) == 3  # simulator, web, worker with beat
    finally:
        # Ctrl-C in a terminal reaches the whole foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
    log.seek(0)
    output = log.read()
    assert process.returncode == 0, output[-2000:]
    assert "Stopping..." in output
    assert "Sign in as 'admin' with password:" in output
    assert "beat: Starting" in output
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
