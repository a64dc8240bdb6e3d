"""Child processes that die with their parent: the kernel's parent-death signal (Linux's prctl PR_SET_PDEATHSIG).

Used where a child outliving its parent does harm: an embedded Celery beat left behind by a worker killed with
SIGKILL keeps queueing work (a second scheduler after a restart), and the children of a `runstack` killed with
SIGKILL would hold its ports. Elsewhere than Linux it does nothing; those children then stop as before, by signal.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(expected_parent: int | None = None, sig: int = signal.SIGTERM) -> None:
    """Asks the kernel to send `sig` to this process when its parent dies. If the parent is already gone (it died
    before this ran; the process was handed to init), stops at once instead."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return  # not allowed here (an unusual sandbox): nothing more this can do
    if expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), sig)
