"""Stopping the subprocesses tests start: one way for all of them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def stop_process(
    process: subprocess.Popen[Any],
    timeout: float = 20.0,
    *,
    first: signal.Signals = signal.SIGTERM,
    to_group: bool = False,
) -> int:
    """`first` (SIGTERM: a warm shutdown), then SIGKILL if it has not exited within `timeout`; returns its exit code.

    `to_group` sends `first` to the whole process group, as Ctrl-C in a terminal does. The SIGKILL always goes to the
    group named by the pid too, which exists only for a process started with `start_new_session=True`: children a
    warm shutdown left behind (an embedded beat, gunicorn's workers) go with it.
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if to_group:
                os.killpg(process.pid, first)
            else:
                process.send_signal(first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    return process.wait()
