"""Scale-out rehearsal on PostgreSQL and Redis: 1, 2 and 3 worker processes and one beat refreshing 2,000
identities, while /readyz and /metrics are asked throughout.

    .venv/bin/python -m benchmarks.scale_out --database-url postgres://postgres@127.0.0.1:5432/NAME \\
        --broker-url redis://127.0.0.1:6379/N [--identities 2000] [--workers 1,2,3] [--concurrency 16] \\
        [--latency-ms 100]

The database the URL names is flushed and migrated (give the benchmark one of its own), the broker's queue purged.
Everything else is real and started here as in production: `celery -A webadmit_dash worker --pool=threads` processes,
one `celery -A webadmit_dash beat`, gunicorn (2 workers) for /readyz and /metrics, and the simulated WebAdMIT (in
this process) adding --latency-ms to every call, as a distant API would. Cadences are set to an hour, so within a
sweep every identity is due exactly once and any second refresh start would be a duplicate.

For each worker count, one sweep: every identity is made due at once; beat dispatches; the figures are

1. sweep time: from "all due" until every identity has refreshed (beat's dispatch interval included);
2. CPU per refresh: the worker processes' CPU time (user + system) over the refreshes they made, and beat's;
3. duplicate refreshes: refresh starts (WebAdMIT's E6 calls, counted by the simulator) beyond one per identity,
   counted until a few dispatch intervals after the sweep; target 0;
4. /readyz and /metrics, each asked every 0.5 s by a second thread: answers that were not 200, and the slowest;
5. PostgreSQL connections to the database at most (pg_stat_activity), for sizing a connection pool;
6. the refreshes the workers counted in /metrics (refreshed), which must equal the identities.

Before the measured sweeps, a first sweep (with the largest worker count) creates every file row and names each
export; measured sweeps are then the steady state: each refresh one E6 call that changes nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from benchmarks._django import setup_throwaway_django

API_KEY = "0123456789abcdef0123456789abcdef"
METRICS_TOKEN = "scale-out-benchmark-metrics-token"
HOUR = "3600"


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark: gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.2)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Process:
    """A child in its own process group, logging to a file, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            command, env={**os.environ}, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def check(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(f"benchmark: {self.log.name} exited:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@dataclass
class Monitor:
    """Asks /readyz and /metrics every half second, and counts the database's connections, while a sweep runs."""

    base_url: str
    database: str
    answers: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: {"/readyz": [], "/metrics": []})
    connections: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Monitor:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        import psycopg
        from django.conf import settings

        db = settings.DATABASES["default"]
        with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
                             password=db["PASSWORD"] or None, autocommit=True) as pg:  # fmt: skip
            while not self._stop.is_set():
                for path in self.answers:
                    started = time.perf_counter()
                    try:
                        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
                        status = requests.get(f"{self.base_url}{path}", headers=headers, timeout=10).status_code
                    except requests.RequestException:
                        status = 0
                    self.answers[path].append((status, time.perf_counter() - started))
                row = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.database]).fetchone()
                self.connections.append(int(row[0]) if row else 0)
                self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def summary(self) -> str:
        parts = []
        for path, answers in self.answers.items():
            bad = sum(1 for status, _ in answers if status != 200)
            slowest = max((seconds for _, seconds in answers), default=0.0)
            median = statistics.median(seconds for _, seconds in answers) if answers else 0.0
            parts.append(f"{path} {len(answers) - bad}/{len(answers)} answered 200 (median {median * 1000:.0f} ms, "
                         f"slowest {slowest * 1000:.0f} ms)")  # fmt: skip
        return "; ".join(parts)


def _scrape(base_url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _refreshed(samples: dict[str, float]) -> float:
    return samples.get("webadmit_dash_refreshes_total[('outcome', 'refreshed')]", 0.0)


def sweep(workers: int, args: argparse.Namespace, simulator: Any, web_url: str, logs: Path) -> dict[str, Any]:
    from django.conf import settings
    from django.utils import timezone

    from webadmit_dash.celery import app
    from webadmit_dash.core.models import UserIdentity

    app.control.purge()
    children = [
        Process([_bin("celery"), "-A", "webadmit_dash", "worker", "--pool=threads", f"--concurrency={args.concurrency}",
                 "--without-gossip", "--without-mingle", f"--hostname=scale{n}@%h", "--loglevel=WARNING"],
                logs / f"worker-{workers}-{n}.log")
        for n in range(workers)
    ]  # fmt: skip
    hostnames = {f"scale{n}@{os.uname().nodename}" for n in range(workers)}

    def all_answer() -> bool:
        for child in children:
            child.check()
        return {name for reply in app.control.ping(timeout=1.0) or [] for name in reply} >= hostnames

    _wait(all_answer, 90, "the workers")
    # Nothing is due until the sweep starts, so beat's first dispatches find nothing.
    UserIdentity.objects.update(next_refresh_at=timezone.now() + timedelta(hours=1), refresh_queued_at=None)
    beat = Process([_bin("celery"), "-A", "webadmit_dash", "beat", "--loglevel=WARNING",
                    f"--schedule={logs / f'beat-{workers}.schedule'}"], logs / f"beat-{workers}.log")  # fmt: skip
    time.sleep(2)
    monitor = Monitor(web_url, settings.DATABASES["default"]["NAME"]).start()
    metrics_before = _scrape(web_url)
    simulator.app.calls.clear()
    cpu_before = {child.pid: _cpu_seconds(child.pid) for child in children}
    beat_cpu_before = _cpu_seconds(beat.pid)
    since = timezone.now()
    started = time.monotonic()
    UserIdentity.objects.update(next_refresh_at=since, refresh_queued_at=None)

    def swept() -> bool:
        for child in [*children, beat]:
            child.check()
        return not UserIdentity.objects.filter(enabled=True).exclude(last_success_at__gte=since).exists()

    _wait(swept, 1800, "the sweep")
    wall = time.monotonic() - started
    cpu = sum(_cpu_seconds(child.pid) - cpu_before[child.pid] for child in children)
    # A duplicate would come from a second dispatch of a still-running identity: give beat time to make one.
    time.sleep(3 * settings.WEBADMIT_DISPATCH_EVERY)
    beat_cpu = _cpu_seconds(beat.pid) - beat_cpu_before
    monitor.stop()
    metrics_after = _scrape(web_url)
    starts = Counter({uid: n for (endpoint, uid), n in simulator.app.calls.items() if endpoint == "E6"})
    for child in [beat, *children]:
        child.stop()
    refreshes = sum(starts.values())
    return {
        "workers": workers,
        "wall": wall,
        "refreshes": refreshes,
        "identities_refreshed": len(starts),
        "duplicates": sum(n - 1 for n in starts.values() if n > 1),
        "cpu_ms": cpu / max(refreshes, 1) * 1000,
        "beat_cpu": beat_cpu,
        "monitor": monitor.summary(),
        "not_200": sum(1 for answers in monitor.answers.values() for status, _ in answers if status != 200),
        "connections": max(monitor.connections, default=0),
        "metrics_refreshed": _refreshed(metrics_after) - _refreshed(metrics_before),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database of the benchmark's own")
    parser.add_argument("--broker-url", required=True, help="a Redis database, e.g. redis://127.0.0.1:6379/5")
    parser.add_argument("--identities", type=int, default=2000)
    parser.add_argument("--files", type=int, default=4, help="files per identity")
    parser.add_argument("--workers", default="1,2,3", help="worker process counts, comma-separated")
    parser.add_argument("--concurrency", type=int, default=16, help="threads per worker process")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="added to every WebAdMIT call")
    parser.add_argument("--dispatch-every", type=int, default=2, help="seconds between beat's dispatches")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres") or not args.broker_url.startswith("redis"):
        raise SystemExit("benchmark: the scale-out rehearsal is for PostgreSQL and Redis")
    counts = [int(part) for part in args.workers.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as data_dir:
        logs = Path(data_dir)
        # Every process started below inherits these: an hour's cadence, so each identity is due once per sweep.
        os.environ.update(
            WEBADMIT_FAST_INTERVAL=HOUR, WEBADMIT_SLOW_FLOOR=HOUR, WEBADMIT_DISPATCH_EVERY=str(args.dispatch_every),
            METRICS_TOKEN=METRICS_TOKEN, LOG_LEVEL="warning",
        )  # fmt: skip
        setup_throwaway_django(logs, database_url=args.database_url, broker_url=args.broker_url)
        from django.core.management import call_command

        from webadmit_dash.core.models import Credential
        from webadmit_dash.engine import credentials
        from webadmit_dash.simulator.data import SimulatedWorld
        from webadmit_dash.simulator.server import SimulatorServer

        call_command("migrate", interactive=False, verbosity=0)
        call_command("flush", interactive=False, verbosity=0)
        print(f"Scale-out rehearsal: {args.identities} identities x {args.files} files, {args.concurrency} threads "
              f"per worker, {args.latency_ms:.0f} ms per WebAdMIT call, beat every {args.dispatch_every} s "
              f"({os.cpu_count()} cores)", flush=True)  # fmt: skip
        world = SimulatedWorld(seed=3, identities=args.identities, files_per_identity=args.files, pace=86_400,
                               new_run_every=None)  # fmt: skip
        simulator = SimulatorServer(world, [API_KEY], latency=args.latency_ms / 1000, rate_limit_per_hour=10**7)
        web = Process([_bin("gunicorn"), "webadmit_dash.wsgi", "--bind", "127.0.0.1:8765", "--workers", "2",
                       "--threads", "4"], logs / "gunicorn.log")  # fmt: skip
        web_url = "http://127.0.0.1:8765"
        with simulator:
            try:
                credential = Credential(name="Scale", base_url=simulator.base_url, rate_limit_per_hour=10**7)
                credential.set_api_key(API_KEY)
                credential.save()
                credentials.import_identities(credential)

                def web_answers() -> bool:
                    web.check()
                    try:
                        return requests.get(f"{web_url}/healthz", timeout=2).status_code == 200
                    except requests.RequestException:
                        return False

                _wait(web_answers, 60, "gunicorn")
                first = sweep(max(counts), args, simulator, web_url, logs)
                print(
                    f"  first sweep ({first['workers']} workers, creates every row): {first['wall']:.1f} s", flush=True
                )
                results = []
                for workers in counts:
                    result = sweep(workers, args, simulator, web_url, logs)
                    results.append(result)
                    print(
                        f"  {workers} worker process{'es' if workers > 1 else ''}: sweep {result['wall']:.1f} s "
                        f"({result['refreshes'] / result['wall']:.0f} refreshes/s), "
                        f"CPU {result['cpu_ms']:.1f} ms per refresh (beat {result['beat_cpu']:.1f} s in all), "
                        f"{result['identities_refreshed']}/{args.identities} identities refreshed, "
                        f"duplicates {result['duplicates']}, metrics counted {result['metrics_refreshed']:.0f} "
                        f"refreshed, PostgreSQL connections at most {result['connections']}",
                        flush=True,
                    )
                    print(f"      {result['monitor']}", flush=True)
            finally:
                web.stop()
        bad = [r for r in results if r["duplicates"] or r["not_200"] or r["identities_refreshed"] != args.identities]
        print("  verdict:", "every identity once per sweep, no duplicate, /readyz and /metrics answered 200 throughout"
              if not bad else f"PROBLEMS in {[r['workers'] for r in bad]} (see above)")  # fmt: skip


if __name__ == "__main__":
    main()
