"""CPU time from /proc, in clock ticks: a process group's, process by process, the PostgreSQL backends' serving one
database, and the whole machine's, so that a benchmark can say what its server and its database used and what else
ran meanwhile (Linux only)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    processes: dict[int, int]  # the group's processes: pid -> ticks so far (user + system, and exited children's)
    database: dict[int, int]  # the database's backends: pid -> ticks so far (none on SQLite: it is in `processes`)
    machine: int  # ticks so far that some CPU of the machine was busy, whoever for

    @property
    def group(self) -> int:
        return sum(self.processes.values())

    def database_since(self, earlier: CpuSample) -> int:
        """The backends' ticks since `earlier`; one that connected since counts from its start."""
        return sum(ticks - earlier.database.get(pid, 0) for pid, ticks in self.database.items())


def _processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/<pid>/stat after its name) of every process."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # gone since the listing
            yield int(entry), stat[stat.rindex(")") + 2 :].split()  # after "pid (name) ": the name may hold spaces


def _ticks(fields: list[str]) -> int:
    # Fields 14-17: utime, stime, and the exited children's cutime, cstime (a gunicorn worker that was replaced
    # counts in its master's).
    return sum(int(value) for value in fields[11:15])


def process_group(group: int) -> dict[int, int]:
    """{pid: ticks} of the processes in a process group."""
    return {pid: _ticks(fields) for pid, fields in _processes() if int(fields[2]) == group}  # field 5: pgrp


def postgres_backends(database: str) -> dict[int, int]:
    """{pid: ticks} of the PostgreSQL backends on this machine serving `database`: their process titles say so
    ("postgres: [cluster: ]user database host(port) activity"). A backend that ended since is lost: Django keeps its
    connections (CONN_MAX_AGE), so they last the run."""
    named = f" {database} ".encode()
    backends = {}
    for pid, fields in _processes():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and named in title:
            backends[pid] = _ticks(fields)
    return backends


def machine_busy() -> int:
    """Ticks the machine's CPUs have been busy since boot, all of them summed (/proc/stat's "cpu" line)."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = values[3], values[4]
    guest, guest_nice = (values[8], values[9]) if len(values) >= 10 else (0, 0)  # already counted in user, nice
    return sum(values) - idle - iowait - guest - guest_nice


def sample(group: int, database: str | None = None) -> CpuSample:
    """The server's process group's CPU, its PostgreSQL database's (if named), and the machine's."""
    return CpuSample(process_group(group), postgres_backends(database) if database else {}, machine_busy())
