"""CPU time from /proc, in clock ticks: a process group's, process by process, and the whole machine's, so that a
benchmark can say what its server used and what else ran meanwhile (Linux only)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    processes: dict[int, int]  # the group's processes: pid -> ticks so far (user + system, and exited children's)
    machine: int  # ticks so far that some CPU of the machine was busy, whoever for

    @property
    def group(self) -> int:
        return sum(self.processes.values())


def process_group(group: int) -> dict[int, int]:
    """{pid: ticks} of the processes in a process group: user + system time, with what their exited children used
    (a gunicorn worker that was replaced counts in its master's cutime)."""
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone since the listing
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) ": the name may hold spaces
        if int(fields[2]) == group:  # field 5, pgrp
            ticks[int(entry)] = sum(int(value) for value in fields[11:15])  # fields 14-17: utime, stime, cutime, cstime
    return ticks


def machine_busy() -> int:
    """Ticks the machine's CPUs have been busy since boot, all of them summed (/proc/stat's "cpu" line)."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = values[3], values[4]
    guest, guest_nice = (values[8], values[9]) if len(values) >= 10 else (0, 0)  # already counted in user, nice
    return sum(values) - idle - iowait - guest - guest_nice


def sample(group: int) -> CpuSample:
    return CpuSample(process_group(group), machine_busy())
