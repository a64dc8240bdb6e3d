"""`make run`'s command: web server, worker, collector, beat and simulator start together, the demo's files arrive in
the outbox, a child that dies comes back while the others go on, and Ctrl-C stops them all."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.processes import stop_process
from tests.support.waiting import eventually, free_port

# runstack starts the whole product, a real Celery worker and beat among it.
pytestmark = pytest.mark.worker

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
COLLECTION_QUEUE = settings.COLLECTION_QUEUE


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


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def child_running(runstack_pid: int, word: str, *, without: str = "") -> int | None:
    """The pid of runstack's child whose command line has `word` (e.g. "worker") and not `without`, if one runs."""
    for pid in children_of(runstack_pid):
        command = command_line(pid)
        if word in command and not (without and without in command):
            return pid
    return None


def refresh_worker(runstack_pid: int) -> int | None:
    """The worker of the default queue (the collector is a worker too, of the collection queue)."""
    return child_running(runstack_pid, "worker", without=COLLECTION_QUEUE)


def stack_processes(data_dir: Path, runstack_pid: int) -> dict[int, list[str]]:
    """Every process of this stack, wherever it was re-parented: those started with its (unique) DATA_DIR in their
    environment, runstack itself aside. A beat orphaned by a killed worker would still be counted here."""
    mark = f"DATA_DIR={data_dir}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == runstack_pid:
            continue
        try:
            if mark in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = command_line(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours
    return found


def last_refresh(data_dir: Path) -> datetime | None:
    """The newest successful refresh in the stack's database (read-only, from this test's own connection)."""
    database = data_dir / "db.sqlite3"
    if not database.exists():
        return None
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as connection:
        try:
            (value,) = connection.execute("SELECT MAX(last_success_at) FROM dashboard_useridentity").fetchone()
        except sqlite3.OperationalError:
            return None  # not migrated yet
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


class WebWatcher:
    """Asks the web server for the sign-in page every quarter second, noting every failure, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answered = 0
        self.answered_at: list[float] = []  # time.monotonic() of each answer
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:  # noqa: S310 - our loopback server
                    response.read()
                    self.answered += 1
                    self.answered_at.append(time.monotonic())
            except OSError as error:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {error}")
            self._stop.wait(0.25)

    def longest_silence(self, start: float, end: float) -> float:
        """The longest time between `start`, the answers in between and `end`."""
        times = [start, *(t for t in self.answered_at if start < t < end), end]
        return max(later - earlier for earlier, later in itertools.pairwise(times))

    def __enter__(self) -> WebWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


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


class RunningStack:
    def __init__(self, process: subprocess.Popen, log_path: Path, web_port: int) -> None:
        self.process, self.log_path, self.web_port = process, log_path, web_port
        self.login_url = f"http://127.0.0.1:{web_port}/accounts/login/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def runstack(stack_env, tmp_path) -> Iterator[RunningStack]:
    """`manage.py runstack` in its own process group (as a terminal runs it), stopped by Ctrl-C afterwards."""
    web_port, simulator_port = free_port(), free_port()
    log_path = tmp_path / "runstack.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(web_port), "--simulator-port", str(simulator_port)],
            cwd=PROJECT_ROOT,
            env=stack_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = RunningStack(process, log_path, web_port)
    try:
        yield stack
    finally:
        # Ctrl-C in a terminal reaches the whole foreground process group.
        stop_process(process, 30, first=signal.SIGINT, to_group=True)


def test_runstack_serves_login_page_answers_ping_and_stops_everything_on_ctrl_c(runstack, stack_env, tmp_path):
    process = runstack.process
    page = wait_for_login_page(runstack.login_url, process)
    assert 'name="password"' in page
    ping = ping_worker(stack_env)
    assert "pong" in ping.stdout, ping.stdout + ping.stderr
    children = children_of(process.pid)
    assert all(child_running(process.pid, name) for name in ("simulate_webadmit", "runserver", "beat"))
    assert refresh_worker(process.pid)
    collector = child_running(process.pid, COLLECTION_QUEUE)
    assert collector and "--pool=threads" in command_line(collector) and "--concurrency=4" in command_line(collector)
    assert len(children) == 5  # simulator, web, worker, collector, beat
    # The demo's export arrives in the outbox: the simulator's files become Available on their own, the collector
    # fetches them into the archive and delivers them there.
    outbox = tmp_path / "outbox"
    delivered = eventually(lambda: sorted(outbox.glob("*.csv")), timeout=90, what="a demo file in the outbox")
    assert delivered[0].stat().st_size > 0
    assert not list(outbox.glob(".*"))  # no temporary file left behind

    # Ctrl-C in a terminal reaches the whole foreground process group.
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=30)
    output = runstack.log()
    assert process.returncode == 0, output[-2000:]
    assert "Stopping..." in output
    assert "Sign in as 'admin' with password:" in output
    assert "beat: Starting" in output
    assert f"are collected and delivered to {outbox}/ as they become Available" in output
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
    # The simulator saved its world on the way out, for the next `make run` to resume (simulator/journal.py).
    assert json.loads((tmp_path / "simulator-world.json").read_text())["epoch"] > 0
    # runstack made the data folder's secrets itself (settings only read them), owner-only, and said so once.
    for name in ("secret_key", "encryption_key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert output.count("generated one in") == 2


def test_a_worker_killed_with_sigkill_comes_back_and_refreshes_while_the_web_answers_and_beat_stays_one(
    runstack, tmp_path
):
    process = runstack.process
    wait_for_login_page(runstack.login_url, process)
    eventually(lambda: last_refresh(tmp_path), timeout=90, what="the first refresh")
    worker = eventually(lambda: refresh_worker(process.pid), timeout=10, what="the worker")
    collector = child_running(process.pid, COLLECTION_QUEUE)
    assert len(stack_processes(tmp_path, process.pid)) == 5

    with WebWatcher(runstack.login_url) as web:
        killed_at = datetime.now(UTC)
        os.kill(worker, signal.SIGKILL)
        started = time.monotonic()
        new_worker = eventually(
            lambda: (pid := refresh_worker(process.pid)) not in (None, worker) and pid,
            timeout=30,
            what="the worker to be started again",
        )
        eventually(
            lambda: (last_refresh(tmp_path) or killed_at) > killed_at, timeout=90, what="a refresh by the new worker"
        )
        back_at = time.monotonic()
        back_within = back_at - started
        time.sleep(1)  # a last look at the web server

    print(f"worker restarted and refreshing {back_within:.0f} s after SIGKILL; web answered {web.answered} times")
    assert back_within < 90
    assert web.failures == [], "the web server answered throughout"
    # It really was asked throughout, every quarter second or so: a ratio to the outage, not a count of seconds (a
    # busy machine answers more slowly).
    assert web.longest_silence(started, back_at) < back_within / 4, "answered throughout the worker's restart"
    assert process.poll() is None, "runstack itself goes on"
    log = runstack.log()
    assert "worker stopped unexpectedly (killed by SIGKILL); restarting it in 1 s" in log
    assert f"worker started again (pid {new_worker}, restart #1)" in log
    stack = stack_processes(tmp_path, process.pid)
    beats = [pid for pid, command in stack.items() if "beat" in command]
    assert len(beats) == 1, f"exactly one scheduler: {stack}"
    assert len(stack) == 5, f"simulator, web, worker, collector and beat, nothing left over: {stack}"
    assert child_running(process.pid, "beat") == beats[0]
    assert child_running(process.pid, COLLECTION_QUEUE) == collector, "the collector went on, untouched"
