"""The refresh engine under load: a full sweep, the cost of an unchanged refresh, and the hourly call budget.

    .venv/bin/python -m benchmarks.refresh [--identities 1000] [--files 100] [--latency-ms 100]
                                           [--workers 2] [--concurrency 16] [--hour-only | --sweep-only]

Everything is throwaway: a temporary DATA_DIR holding a SQLite database (migrated here) and the filesystem broker,
a simulated WebAdMIT on a free port, and real Celery workers (`celery -A webadmit_dash worker --pool=threads`)
started as subprocesses. One worker process per core: a refresh is mostly Python (parsing, the ORM), and one
process's threads share one core. The figures:

1. a full sweep of every identity through the workers (the first, which creates every row, and an unchanged
   one), with the simulator adding --latency-ms to every call; target <= 20 s;
2. rows written and SQL queries by one unchanged refresh; targets: 1 row (the identity's), <= 4 queries;
3. WebAdMIT calls in one steady-state hour for 50 identities of one key, on a fake clock, in three mixes: every
   identity with a run always in progress (the worst case for the budget), a few running at a time, and every file
   settled; targets: under the key's 5,000, and the calls made at the settled cadence under the settled share
   (WEBADMIT_SETTLED_SHARE, 25 %: 1,250);
4. the workers' peak memory (peak resident set size, VmHWM, of the largest).

With the filesystem broker a worker whose threads are all busy polls for more every `polling_interval`
(0.2 s in settings.py), so its throughput is at most concurrency / 0.2 s: hence 16 threads per worker (2 x 16 =
32 in all), although each refresh waits only --latency-ms on WebAdMIT.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks._django import setup_throwaway_django

SWEEP_TARGET_S = 20.0
ROWS_TARGET = 1
QUERIES_TARGET = 4
BUDGET = 5000
API_KEY = "0123456789abcdef0123456789abcdef"
# The steady-state hour's mixes: how the simulated world's runs start and how long they take.
MIXES: dict[str, dict[str, Any]] = {
    # Every run takes 40 simulated minutes and a new one starts every 10 s somewhere: no identity ever settles.
    "all running": {"pace": 600, "new_run_every": 10, "initial": "mix"},
    # A run takes about 4 minutes and a new one starts every 2 minutes: two or three identities running at a time.
    "a few running": {"pace": 60, "new_run_every": 120, "initial": "settled"},
    # Nothing runs: every identity on the settled cadence.
    "all settled": {"pace": 600, "new_run_every": None, "initial": "settled"},
}


def _configure(data_dir: Path, broker_url: str | None) -> None:
    # A throwaway SQLite database in data_dir; the filesystem broker there too, unless --broker-url names one
    # (its queue is purged first).
    setup_throwaway_django(data_dir, broker_url=broker_url)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    if broker_url:
        from webadmit_dash.celery import app

        app.control.purge()


def _credential(name: str, base_url: str) -> Any:
    from webadmit_dash.core.models import Credential

    credential = Credential(name=name, base_url=base_url)
    credential.set_api_key(API_KEY)
    credential.save()
    return credential


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark: gave up after {timeout:.0f} s")
        time.sleep(0.1)


class Worker:
    """The real worker, in its own process group so that its threads and nothing else are measured."""

    def __init__(self, concurrency: int, prefetch: int, log_path: Path, name: str) -> None:
        celery = str(Path(sys.executable).with_name("celery"))
        self.log_path = log_path
        self.hostname = f"{name}@{os.uname().nodename}"
        self.process = subprocess.Popen(
            [celery, "-A", "webadmit_dash", "worker", "--pool=threads", f"--concurrency={concurrency}",
             f"--prefetch-multiplier={prefetch}", "--without-gossip", "--without-mingle",
             f"--hostname={self.hostname}"],
            env={**os.environ},
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def wait_ready(self) -> None:
        from webadmit_dash.celery import app

        def ready() -> bool:
            if self.process.poll() is not None:
                raise SystemExit(f"benchmark: the worker exited:\n{self.log_path.read_text()[-3000:]}")
            return bool(app.control.ping(destination=[self.hostname], timeout=0.5))

        _wait(ready, 60)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def peak_memory_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kilobytes = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        return kilobytes / 1024

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _sweep(workers: list[Worker], identity_count: int) -> dict[str, float]:
    """Dispatches every identity at once and waits until each has refreshed: wall time and CPU spent."""
    from django.conf import settings
    from django.utils import timezone

    from webadmit_dash.core.models import UserIdentity
    from webadmit_dash.engine.tasks import dispatch_due_refreshes

    # Identities refreshed early in the previous sweep fall due again before it ends (the cadence is 15 s while a
    # file runs) and are sent again: let those refreshes finish, then start every sweep clean.
    _wait(lambda: not UserIdentity.objects.filter(refreshing_until__gt=timezone.now()).exists(), 120)
    since = timezone.now()
    UserIdentity.objects.update(next_refresh_at=since, refresh_queued_at=None)
    cpu, own, started = _cpu_seconds(workers), time.process_time(), time.monotonic()
    dispatched = dispatch_due_refreshes()
    assert dispatched == identity_count, dispatched
    beat = started

    def swept() -> bool:
        nonlocal beat
        if time.monotonic() - beat >= settings.WEBADMIT_DISPATCH_EVERY:  # as beat would, for any straggler
            beat = time.monotonic()
            dispatch_due_refreshes()
        return not UserIdentity.objects.exclude(last_success_at__gt=since).exists()

    _wait(swept, 600)
    return {
        "wall": time.monotonic() - started,
        "worker_cpu_ms": (_cpu_seconds(workers) - cpu) / identity_count * 1000,
        # This process serves the simulator and runs the dispatcher: the rest of the machine's work.
        "here_cpu": time.process_time() - own,
    }


def _cpu_seconds(workers: list[Worker]) -> float:
    return sum(worker.cpu_seconds() for worker in workers)


def sweep_figures(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from webadmit_dash.core.models import ExportFile, StatusChange, UserIdentity
    from webadmit_dash.engine import credentials
    from webadmit_dash.simulator.data import SimulatedWorld
    from webadmit_dash.simulator.server import SimulatorServer

    print(f"Building a simulated WebAdMIT: {args.identities} identities x {args.files} files ...", flush=True)
    # A pace of a day: statuses (nearly) hold still, so the second sweep is an unchanged one.
    world = SimulatedWorld(
        seed=1, identities=args.identities, files_per_identity=args.files, pace=86_400, new_run_every=None
    )
    # The budget is the benchmark's to spend: this figure is about speed, the hourly one about the budget.
    with SimulatorServer(world, [API_KEY], latency=args.latency_ms / 1000, rate_limit_per_hour=10**6) as server:
        credentials.import_identities(_credential("Sweep", server.base_url))
        workers = [
            Worker(args.concurrency, args.prefetch, data_dir / f"worker{n}.log", f"bench{n}")
            for n in range(args.workers)
        ]
        try:
            for worker in workers:
                worker.wait_ready()
            print(f"{args.workers} workers ready ({args.concurrency} threads each); sweeping ...", flush=True)
            cold = _sweep(workers, args.identities)
            rows = (ExportFile.objects.count(), StatusChange.objects.count())
            warm = _sweep(workers, args.identities)
            memory = max(worker.peak_memory_mb() for worker in workers)
        finally:
            for worker in workers:
                worker.stop()
        identity = UserIdentity.objects.order_by("pk").first()
        assert identity is not None
        rows_written, queries = unchanged_refresh_cost(identity.pk)
        UserIdentity.objects.update(enabled=False)  # done with: the budget figure schedules its own
    return {
        "cold": cold,
        "warm": warm,
        # A pace of a day still lets a few of the running files step on between the two sweeps.
        "moved": StatusChange.objects.count() - rows[1],
        "files": rows[0],
        "history": rows[1],
        "memory": memory,
        "rows_written": rows_written,
        "queries": queries,
    }


def unchanged_refresh_cost(identity_id: int) -> tuple[int, int]:
    """(distinct rows written, SQL queries) of one unchanged refresh, in this process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from webadmit_dash.engine.refresh import refresh_identity

    refresh_identity(identity_id)  # a fresh rate-limit sample, as in steady state
    with CaptureQueriesContext(connection) as captured:
        outcome = refresh_identity(identity_id)
    assert outcome.applied is not None and not outcome.applied.changed, outcome
    written = {
        query["sql"].split(" WHERE ")[0].split(" SET ")[0]
        for query in captured.captured_queries
        if query["sql"].startswith(("INSERT", "UPDATE", "DELETE"))
    }
    # Each write statement targets one row by primary key; the set tells which tables were written.
    assert written <= {'UPDATE "dashboard_useridentity"'}, written
    return len(written), len(captured.captured_queries)


def steady_state_calls(
    mix: str, identity_count: int = 50, hours: float = 1.0, warmup_minutes: float = 20
) -> dict[str, int]:
    """Calls one key makes in an hour for `identity_count` identities in one of the MIXES.

    The dispatcher (`schedule.dispatch`) and the refresh run for real against the simulator over HTTP; only time
    is simulated: one clock drives the simulated world and the `now` given to the dispatcher and each refresh,
    advanced by WEBADMIT_DISPATCH_EVERY per beat, so an hour takes seconds. A refresh's calls count as settled
    when the identity was on the settled cadence, i.e. its previous refresh found nothing running.
    """
    from django.conf import settings

    from webadmit_dash.core.models import UserIdentity
    from webadmit_dash.engine import credentials, schedule
    from webadmit_dash.engine.refresh import refresh_identity
    from webadmit_dash.simulator.data import SimulatedWorld
    from webadmit_dash.simulator.server import SimulatorServer
    from webadmit_dash.webadmit.errors import RateLimited

    UserIdentity.objects.update(enabled=False)  # the previous mix's
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    clock = {"now": start}
    world = SimulatedWorld(
        seed=2, identities=identity_count, files_per_identity=10, clock=lambda: clock["now"].timestamp(), **MIXES[mix]
    )
    step = timedelta(seconds=settings.WEBADMIT_DISPATCH_EVERY)
    counted = {"calls": 0, "settled_calls": 0, "rate_limited": 0, "refreshes": 0}
    was_running: dict[int, bool] = {}
    with SimulatorServer(world, [API_KEY], rate_limit_per_hour=BUDGET) as server:
        credential = _credential(f"Steady ({mix})", server.base_url)
        credentials.import_identities(credential)
        measure_from = start + timedelta(minutes=warmup_minutes)
        while clock["now"] < measure_from + timedelta(hours=hours):
            now = clock["now"]
            for identity_id in schedule.dispatch(now).identity_ids:
                outcome = refresh_identity(identity_id, now=now)
                if now >= measure_from:
                    counted["calls"] += outcome.calls
                    counted["settled_calls"] += outcome.calls if not was_running.get(identity_id, True) else 0
                    counted["refreshes"] += 1
                    counted["rate_limited"] += isinstance(outcome.error, RateLimited)
                if outcome.applied is not None:
                    was_running[identity_id] = outcome.applied.running
            clock["now"] = now + step
    return counted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--identities", type=int, default=1000)
    parser.add_argument("--files", type=int, default=100, help="files per identity")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="added by the simulator to every call")
    parser.add_argument("--concurrency", type=int, default=16, help="threads per worker")
    parser.add_argument("--prefetch", type=int, default=4, help="the worker's --prefetch-multiplier")
    parser.add_argument("--broker-url", help="e.g. redis://127.0.0.1:6379/13 (default: the filesystem broker)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (one per core)")
    parser.add_argument("--hour-only", action="store_true", help="only the steady-state hours (no workers)")
    parser.add_argument("--sweep-only", action="store_true", help="only the sweeps and the unchanged refresh")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="webadmit-bench-") as folder:
        data_dir = Path(folder)
        _configure(data_dir, args.broker_url)
        sweep = None if args.hour_only else sweep_figures(args, data_dir)
        hours = {}
        for mix in () if args.sweep_only else MIXES:
            print(f"Simulating a steady-state hour for 50 identities of one key, {mix} ...", flush=True)
            hours[mix] = steady_state_calls(mix)

    report(args, sweep, hours)


def _sweep_figure(sweep: dict[str, float]) -> str:
    return (
        f"{sweep['wall']:.1f} s wall ({sweep['worker_cpu_ms']:.1f} ms worker CPU per refresh; "
        f"{sweep['here_cpu']:.1f} s CPU for the simulator and dispatcher)"
    )


def report(args: argparse.Namespace, sweep: dict[str, Any] | None, hours: dict[str, dict[str, int]]) -> None:
    from django.conf import settings

    print(
        f"\nRefresh engine benchmark: {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end), "
        f"SQLite, {args.broker_url or 'filesystem broker'}, {args.workers} x `celery worker --pool=threads "
        f"--concurrency={args.concurrency}`, {args.latency_ms:.0f} ms latency per call\n"
    )
    settled_share = settings.WEBADMIT_SETTLED_SHARE * BUDGET // 100
    rows = [] if sweep is None else _sweep_rows(args, sweep)
    for mix, hour in hours.items():
        rows.append(
            (
                f"API calls in one steady-state hour: 50 identities of one key, {mix}",
                f"{hour['calls']:,} ({hour['refreshes']:,} refreshes, {hour['rate_limited']} answered 429); "
                f"{hour['settled_calls']:,} of them at the settled cadence",
                f"< {BUDGET:,}; settled <= {settled_share:,}",
            )
        )
    for label, value, target in rows:
        print(f"  {label}\n      {value:<90} target {target}")


def _sweep_rows(args: argparse.Namespace, sweep: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (
            f"full sweep, first ({args.identities:,} identities; creates {sweep['files']:,} files "
            f"and {sweep['history']:,} history rows)",
            _sweep_figure(sweep["cold"]),
            f"<= {SWEEP_TARGET_S:.0f} s",
        ),
        (
            f"full sweep, unchanged ({args.identities:,} identities x {args.files} files; "
            f"{sweep['moved']:.0f} real transitions on the way)",
            _sweep_figure(sweep["warm"]),
            f"<= {SWEEP_TARGET_S:.0f} s",
        ),
        (
            "rows written by an unchanged refresh",
            f"{sweep['rows_written']:.0f} (the identity's: locked, then released with its timestamps)",
            f"<= {ROWS_TARGET}",
        ),
        ("SQL queries per unchanged refresh, the lock included", f"{sweep['queries']:.0f}", f"<= {QUERIES_TARGET}"),
        ("worker peak memory (VmHWM of the largest worker process)", f"{sweep['memory']:.0f} MB", "-"),
    ]


if __name__ == "__main__":
    main()
