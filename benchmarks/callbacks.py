"""Upstream change -> badge for runs started here with WebAdMIT's callback on: how long after WebAdMIT finishes a run
the dashboard shows it (the row's status stored, which is what the page's next poll renders).

    .venv/bin/python -m benchmarks.callbacks [--runs 100] [--spread 60] [--database-url postgres://...]

Everything is real and throwaway: a temporary DATA_DIR (SQLite, or a throwaway PostgreSQL database next to the one
--database-url names, and the filesystem broker), the simulated WebAdMIT on a free port, the production web server
(gunicorn, 2 processes x 4 threads) serving the callback endpoint at SITE_URL, and a Celery worker with embedded beat
dispatching every second. Every identity's cadence is 600 s, so the dispatcher never refreshes during the
measurement: only a callback can move a row.

`--runs` runs are started here as Run again starts them (E4 with the callback URL, one per export), then the
simulator finishes each at a random moment within `--spread` seconds; it calls back, the endpoint asks for a
refresh, the worker reads WebAdMIT and stores Available. Measured per run, from the moment WebAdMIT's status
changed: the call received (the RunRequest's stamp) and the row's status stored (polled every 50 ms).

Target: p99 <= 5 s from the change to the status stored.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks._django import setup_throwaway_django

TARGET_P99_S = 5.0
API_KEY = "0123456789abcdef0123456789abcdef"
CADENCE_S = 600
EXPORTS_PER_IDENTITY = 5  # the simulator makes one export of each of WebAdMIT's five formats


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark: {what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)


def _throwaway_postgres(url: str) -> tuple[str, Callable[[], None]]:
    from benchmarks.dashboard import _throwaway_postgres as make

    return make(url)


def _start_process(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, env={**os.environ}, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    import signal

    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from django.core.management import call_command
    from django.utils import timezone

    from webadmit_dash.core.models import Credential, ExportFile, RunRequest, UserIdentity
    from webadmit_dash.engine import credentials, on_demand, refresh, schedule
    from webadmit_dash.simulator.data import SimulatedWorld
    from webadmit_dash.simulator.server import SimulatorServer

    call_command("migrate", interactive=False, verbosity=0)
    identities = -(-args.runs // EXPORTS_PER_IDENTITY)
    world = SimulatedWorld(
        seed=17,
        identities=identities,
        files_per_identity=EXPORTS_PER_IDENTITY,
        pace=86_400,  # runs finish only when the benchmark says
        new_run_every=None,
        initial="settled",
    )
    bin_dir = Path(sys.executable).parent
    processes: list[subprocess.Popen[bytes]] = []
    with SimulatorServer(world, [API_KEY], rate_limit_per_hour=10**6) as simulator:
        try:
            credential = Credential(name="Benchmark", base_url=simulator.base_url)
            credential.set_api_key(API_KEY)
            credential.save()
            credentials.import_identities(credential)
            for identity in UserIdentity.objects.all():
                refresh.refresh_identity(identity.pk)
            schedule.record_heartbeat(timezone.now())

            gunicorn = [str(bin_dir / "gunicorn"), "webadmit_dash.wsgi", "--bind", f"127.0.0.1:{args.port}",
                        "--workers", "2", "--threads", "4"]  # fmt: skip
            worker = [str(bin_dir / "celery"), "-A", "webadmit_dash", "worker", "--pool=threads", "--concurrency=8",
                      "--without-gossip", "--without-mingle", "--loglevel=INFO", "--beat",
                      f"--schedule={data_dir / 'beat.schedule'}"]  # fmt: skip
            processes.append(_start_process(gunicorn, data_dir / "gunicorn.log"))
            processes.append(_start_process(worker, data_dir / "worker.log"))
            import requests

            _wait(lambda: _answers(requests, f"{os.environ['SITE_URL']}/healthz"), 60, "gunicorn's start")
            _wait(lambda: "ready." in (data_dir / "worker.log").read_text(errors="replace"), 60, "the worker's start")

            # Started here, one per export, as Run again starts them; the cadence is long from here on.
            files = list(ExportFile.objects.order_by("pk")[: args.runs])
            started = [on_demand.start_run(export_file) for export_file in files]
            later = timezone.now() + timedelta(seconds=CADENCE_S)
            UserIdentity.objects.update(fast_interval=CADENCE_S, slow_interval=CADENCE_S, next_refresh_at=later)
            runs = {run.run.id: run.file_pk for run in started}
            assert len(runs) == args.runs, "every start made a new run"
            assert RunRequest.objects.filter(callback_token__isnull=False).count() == args.runs

            changed_at: dict[int, float] = {}
            rng = random.Random(args.seed)
            moments = sorted((rng.uniform(1, args.spread), webadmit_id) for webadmit_id in runs)
            begin = time.time()

            def finish() -> None:
                for moment, webadmit_id in moments:
                    time.sleep(max(0.0, begin + moment - time.time()))
                    world.force_status(webadmit_id, "available")
                    changed_at[webadmit_id] = time.time()

            finisher = threading.Thread(target=finish, daemon=True)
            finisher.start()
            seen_at: dict[int, float] = {}
            deadline = begin + args.spread + 60
            pks = {pk: webadmit_id for webadmit_id, pk in runs.items()}
            while len(seen_at) < len(runs) and time.time() < deadline:
                now = time.time()
                for pk in ExportFile.objects.filter(pk__in=list(pks), status="available").values_list("pk", flat=True):
                    seen_at.setdefault(pks[pk], now)
                time.sleep(0.05)
            finisher.join()
            stamps = RunRequest.objects.values_list("run_webadmit_id", "callback_received_at")
            called = {webadmit_id: received.timestamp() for webadmit_id, received in stamps if received is not None}
            # What beat's dispatcher sent (each turn logs how many identities it queued): none, with this cadence.
            log = (data_dir / "worker.log").read_text(errors="replace")
            dispatched = sum(
                int(n) for n in re.findall(r"dispatch_due_refreshes\[[^\]]+\] succeeded in [\d.]+s: (\d+)", log)
            )
            followed = len(re.findall(r"run_refresh_after_current\[[^\]]+\] succeeded", log))
        finally:
            for process in processes:
                _stop(process)
        return {
            "to_badge": [seen_at[w] - changed_at[w] for w in seen_at if w in changed_at],
            "to_call": [called[w] - changed_at[w] for w in called if w in changed_at],
            "call_to_badge": [seen_at[w] - called[w] for w in seen_at if w in called],
            "missing": len(runs) - len(seen_at),
            "calls": len(called),
            "runs": len(runs),
            "dispatched": dispatched,
            "after_current": followed,
            "simulator_calls": simulator.app.callbacks.summary()["made"],
        }


def _answers(requests: Any, url: str) -> bool:
    try:
        return bool(requests.get(url, timeout=2).status_code == 200)
    except requests.RequestException:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which WebAdMIT finishes the runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="postgres://user@host/postgres: a throwaway database next to it")
    args = parser.parse_args()
    args.port = _free_port()
    os.environ["WEBADMIT_CALLBACKS"] = "true"
    os.environ["SITE_URL"] = f"http://127.0.0.1:{args.port}"
    os.environ["WEBADMIT_DISPATCH_EVERY"] = "1"
    os.environ["WEBADMIT_CALLBACKS_PER_MINUTE"] = "1000"  # one address (the simulator's) calls for every run
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as folder:
        drop: Callable[[], None] | None = None
        database_url = None
        if args.database_url:
            database_url, drop = _throwaway_postgres(args.database_url)
        setup_throwaway_django(Path(folder), database_url=database_url)
        os.environ["DATA_DIR"] = folder
        if database_url:
            os.environ["DATABASE_URL"] = database_url
        try:
            figures = run(args, Path(folder))
        finally:
            if drop is not None:
                drop()
    _report(figures, args)


def _report(figures: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\n{figures['runs']} runs started here with callbacks on, finished by WebAdMIT over {args.spread:.0f} s;")
    print(f"cadence {CADENCE_S} s: only callbacks can move a row. Simulator calls made: {figures['simulator_calls']},")
    print(f"received: {figures['calls']}, rows not Available by the end: {figures['missing']}, ", end="")
    print(
        f"refreshes sent by the dispatcher: {figures['dispatched']}, refreshes that waited for a running one: ", end=""
    )
    print(f"{figures['after_current']}.\n")
    print(f"{'seconds':<34}{'n':>5}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}")
    for label, key in (
        ("change -> call received", "to_call"),
        ("call received -> status stored", "call_to_badge"),
        ("change -> status stored (badge)", "to_badge"),
    ):
        values = figures[key]
        if not values:
            print(f"{label:<34}{0:>5}")
            continue
        print(
            f"{label:<34}{len(values):>5}{statistics.median(values):>8.2f}{_percentile(values, 0.9):>8.2f}"
            f"{_percentile(values, 0.99):>8.2f}{max(values):>8.2f}"
        )
    p99 = _percentile(figures["to_badge"], 0.99) if figures["to_badge"] else float("inf")
    verdict = "met" if p99 <= TARGET_P99_S and not figures["missing"] else "MISSED"
    print(f"\nTarget: change -> badge p99 <= {TARGET_P99_S:.0f} s: {verdict} ({p99:.2f} s)")


if __name__ == "__main__":
    main()
