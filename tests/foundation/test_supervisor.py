"""runstack's supervisor with real child processes and a hand-driven clock: a child that stops is restarted after
a backoff that doubles while it keeps failing and starts over once it ran long enough; stop_all ends them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from webadmit_dash.stack.supervisor import FIRST_BACKOFF, HEALTHY_AFTER, MAX_BACKOFF, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
FAILING = [sys.executable, "-c", "raise SystemExit(3)"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def supervised(tmp_path):
    clock, lines = Clock(), []
    supervisor = Supervisor(Path(tmp_path), lines.append, clock=clock)
    yield supervisor, clock, lines
    supervisor.stop_all(timeout=5)


def wait_for_exit(supervisor: Supervisor, name: str) -> None:
    process = supervisor.child(name).process
    assert process is not None
    process.wait(timeout=10)


def test_a_killed_child_is_restarted_after_a_second_with_a_loud_line(supervised):
    supervisor, clock, lines = supervised
    child = supervisor.start("worker", SLEEPER)
    first_pid = child.pid
    os.kill(first_pid, signal.SIGKILL)
    wait_for_exit(supervisor, "worker")

    supervisor.check()
    assert lines == ["runstack: ERROR: worker stopped unexpectedly (killed by SIGKILL); restarting it in 1 s. "
                     "The other processes keep running."]  # fmt: skip
    assert child.pid is None, "not before its backoff"
    clock.now += FIRST_BACKOFF
    supervisor.check()

    assert child.pid not in (None, first_pid)
    assert lines[-1] == f"runstack: worker started again (pid {child.pid}, restart #1)"


def test_a_child_that_keeps_failing_waits_twice_as_long_each_time_up_to_30_s(supervised):
    supervisor, clock, lines = supervised
    supervisor.start("web", FAILING)
    delays = []
    for _ in range(7):
        wait_for_exit(supervisor, "web")
        supervisor.check()
        delay = supervisor.child("web").restart_at - clock.now
        delays.append(delay)
        clock.now += delay
        supervisor.check()

    assert delays == [1, 2, 4, 8, 16, MAX_BACKOFF, MAX_BACKOFF]
    assert "runstack: ERROR: web stopped unexpectedly (exit code 3); restarting it in 16 s." in " ".join(lines)


def test_a_child_that_ran_long_enough_starts_over_from_the_first_backoff(supervised):
    supervisor, clock, _ = supervised
    child = supervisor.start("beat", SLEEPER)
    child.quick_deaths = 4  # it had been failing
    clock.now += HEALTHY_AFTER
    os.kill(child.pid, signal.SIGKILL)
    wait_for_exit(supervisor, "beat")

    supervisor.check()

    assert child.restart_at - clock.now == FIRST_BACKOFF


def test_stop_all_ends_every_child_and_restarts_nothing(supervised):
    supervisor, clock, _ = supervised
    clock.now += 3600  # however much later
    children = [supervisor.start(name, SLEEPER) for name in ("web", "worker", "beat")]
    pids = [child.pid for child in children]

    supervisor.stop_all(timeout=5)

    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    supervisor.check()
    assert all(child.restart_at is None for child in children), "stopping is not a reason to restart"


def test_a_child_dies_with_a_supervisor_killed_with_sigkill(tmp_path):
    # A supervisor in a process of its own, with one child; SIGKILL the supervisor, and the child goes too.
    script = (
        "import sys, time; from pathlib import Path; from webadmit_dash.stack.supervisor import Supervisor; "
        f"s = Supervisor(Path({str(tmp_path)!r}), print); c = s.start('child', {SLEEPER!r}); "
        "print(c.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("the child outlived its supervisor")
