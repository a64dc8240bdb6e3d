"""A small process supervisor for `runstack`: it starts the children, restarts one that stops (after a backoff,
with a loud line in the log) while the others go on, and stops them all on Ctrl-C.

A child that keeps failing is restarted after 1 s, then 2, 4 … up to 30 s; one that ran for a minute before it
stopped counts as healthy again and is restarted after 1 s. Every child is started with the kernel's
parent-death signal (see `lifeline`), so that even a `runstack` killed with SIGKILL leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from webadmit_dash.lifeline import die_with_parent

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 60.0  # seconds a child must run for its next restart to start from FIRST_BACKOFF again
STOP_TIMEOUT = 15.0


@dataclass
class Child:
    """One supervised process and its restart state."""

    name: str
    command: Sequence[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    quick_deaths: int = 0  # stops in a row, each soon after its start
    restart_at: float | None = None  # set while the child is down and waiting to be started again
    exits: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Starts and watches children; `log` gets one line per event (the command writes them to stderr)."""

    def __init__(self, cwd: Path, log: Callable[[str], None], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cwd = cwd
        self.log = log
        self.clock = clock
        self.children: list[Child] = []
        self.stopping = False

    def start(self, name: str, command: Sequence[str]) -> Child:
        child = Child(name, list(command))
        self.children.append(child)
        self._spawn(child)
        return child

    def child(self, name: str) -> Child:
        return next(child for child in self.children if child.name == name)

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.command, cwd=self.cwd, preexec_fn=partial(die_with_parent, os.getpid()))
        child.started_at, child.restart_at = self.clock(), None

    def check(self) -> None:
        """One round: notice children that stopped (scheduling their restart) and restart those that are due."""
        if self.stopping:
            return
        now = self.clock()
        for child in self.children:
            if child.restart_at is None and child.process is not None and child.process.poll() is not None:
                self._stopped(child, child.process.returncode, now)
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                assert child.process is not None
                self.log(f"runstack: {child.name} started again (pid {child.process.pid}, restart #{child.restarts})")

    def _stopped(self, child: Child, code: int, now: float) -> None:
        child.exits.append(code)
        child.quick_deaths = 0 if now - child.started_at >= HEALTHY_AFTER else child.quick_deaths + 1
        delay = min(FIRST_BACKOFF * 2 ** max(child.quick_deaths - 1, 0), MAX_BACKOFF)
        child.restart_at = now + delay
        self.log(
            f"runstack: ERROR: {child.name} stopped unexpectedly ({describe_exit(code)}); "
            f"restarting it in {delay:.0f} s. The other processes keep running."
        )

    def watch(self, every: float = 0.5) -> None:
        """Supervises until interrupted (Ctrl-C or SIGTERM raise KeyboardInterrupt in the caller)."""
        while True:
            self.check()
            time.sleep(every)

    def stop_all(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to every running child, then SIGKILL to those still running after `timeout`."""
        self.stopping = True
        running = [child.process for child in self.children if child.process is not None]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
