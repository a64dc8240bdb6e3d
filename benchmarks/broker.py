"""The embedded broker under load: concurrent producers, real workers, every task counted.

    .venv/bin/python -m benchmarks.broker [--transport atomic|old] [--producers 4] [--tasks 5000]
                                          [--workers 2] [--concurrency 4] [--rate 0] [--polling-interval S] [--json]

Everything is throwaway: a temporary DATA_DIR holding the broker's folders, configured by the product's own
settings (the same folders, polling interval, prefetch and late acks as `make run`); --workers real worker
processes (`celery -A benchmarks.broker_app worker --pool=threads`); and --producers processes, all at once, each
publishing --tasks tasks as fast as it can (or --rate a second). Each task appends its own id to a file of its
worker process; at the end every id must be there exactly once. A worker that dies is counted and started again, as
a supervisor would, so that "lost" counts messages destroyed, not messages stranded behind a dead worker. The run
ends when every id has arrived, or when nothing has arrived for --stall seconds after the producers finished.

`--transport old` does the same on kombu's own filesystem transport, which the product used before (kombu issue
#1551): its workers can read a message before its producer has written it. That happens only to a reader that
reaches the newest message, so a run with a backlog (the default: producers outpace the workers) hides it; to see
it, keep the queue nearly empty and look at it often: `--rate 100 --polling-interval 0.01`, as the stress test in
tests/engine/test_embedded_broker.py does.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))
CRASH_MARK = "Unrecoverable error"


@dataclass
class StressResult:
    transport: str
    published: int
    received: int  # distinct task ids recorded by a worker
    lost: int
    duplicated: int  # recordings beyond the first of an id
    crashes: int  # worker processes that exited on their own
    unrecoverable: int  # "Unrecoverable error" lines in the workers' logs
    rejected: int  # message files the transport moved aside as undecodable
    stranded: int  # messages still waiting in the queue folder at the end
    answered_ping: int  # workers that answered `celery inspect ping` after the run
    publish_wall: float  # from the producers' start to the last one's exit
    wall: float  # from the first producer's start to the last id's arrival
    logs: str  # an excerpt of each worker's log, for a failure message

    @property
    def throughput(self) -> float:
        return self.received / self.wall if self.wall else 0.0


class Worker:
    """One worker process of the stress app, in its own process group."""

    def __init__(self, env: dict[str, str], data_dir: Path, name: str, concurrency: int) -> None:
        self.env = env
        self.hostname = f"{name}-{os.getpid()}@{os.uname().nodename}"
        self.ready_file = data_dir / "ready" / self.hostname
        self.log_path = data_dir / f"{name}.log"
        self.command = [
            CELERY, "-A", "benchmarks.broker_app", "worker", "--pool=threads", f"--concurrency={concurrency}",
            f"--hostname={self.hostname}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.ready_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ready(self) -> bool:
        return self.ready_file.exists()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def stress_environment(data_dir: Path, transport: str, polling_interval: float | None) -> dict[str, str]:
    """The product's settings on `data_dir`, whatever broker or database this shell points at."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("CELERY_", "DATABASE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="webadmit_dash.settings",
        DJANGO_ENV="development",
        DJANGO_DEBUG="false",
        DATA_DIR=str(data_dir),
        # Given, not generated: processes starting at once on a fresh DATA_DIR would race to generate them.
        DJANGO_SECRET_KEY="broker-stress-" + "x" * 50,
        ENCRYPTION_KEYS="A" * 43 + "=",
        BROKER_STRESS_TRANSPORT=transport,
        PYTHONUNBUFFERED="1",
    )
    if polling_interval is not None:
        env["BROKER_STRESS_POLLING_INTERVAL"] = str(polling_interval)
    return env


def read_received(folder: Path) -> Counter[str]:
    ids: Counter[str] = Counter()
    for path in folder.glob("*.ids"):
        ids.update(path.read_text().split("\n")[:-1])  # a line still being written is not counted yet
    return ids


def stress(
    data_dir: Path,
    *,
    transport: str = "atomic",
    producers: int = 4,
    tasks: int = 5000,
    workers: int = 2,
    concurrency: int = 4,
    rate: float = 0,
    polling_interval: float | None = None,
    stall: float = 20.0,
    timeout: float = 900.0,
) -> StressResult:
    """Publishes producers x tasks tasks from concurrent processes to real workers, and counts what arrived."""
    if transport not in ("atomic", "old"):
        raise ValueError(f"unknown transport {transport!r}")
    env = stress_environment(data_dir, transport, polling_interval)
    for folder in ("received", "ready"):
        (data_dir / folder).mkdir(parents=True, exist_ok=True)
    pool = [Worker(env, data_dir, f"stress{n}", concurrency) for n in range(workers)]
    crashes = 0

    def restart_the_dead() -> None:
        # What a supervisor (systemd, compose's restart policy) would do; each one counts as a crash.
        nonlocal crashes
        for worker in pool:
            if not worker.alive():
                crashes += 1
                worker.start()

    try:
        for worker in pool:
            worker.start()  # all at once, as `docker compose up` would: they declare the same queues together
        deadline = time.monotonic() + 60
        while not all(worker.ready() for worker in pool):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the stress workers were not ready within 60 s:\n{pool_logs(pool)}")
            restart_the_dead()
            time.sleep(0.1)

        started = time.monotonic()
        publishing = []
        for n in range(producers):
            with (data_dir / f"producer{n}.log").open("wb") as log:
                publishing.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "benchmarks.broker_app", f"p{n}", str(tasks), str(rate)],
                        cwd=PROJECT_ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        expected = producers * tasks
        arrived, last_arrival, published_at = 0, started, None
        while arrived < expected:
            time.sleep(0.25)
            restart_the_dead()
            count = len(read_received(data_dir / "received"))
            if count != arrived:
                arrived, last_arrival = count, time.monotonic()
            if published_at is None and all(producer.poll() is not None for producer in publishing):
                published_at = time.monotonic()
            if published_at is not None and time.monotonic() - last_arrival > stall:
                break
            if time.monotonic() - started > timeout:
                break
        for n, producer in enumerate(publishing):
            if producer.wait() != 0:
                output = (data_dir / f"producer{n}.log").read_text(errors="replace")
                raise RuntimeError(f"a producer failed ({producer.returncode}):\n{output[-3000:]}")
        published_at = published_at or time.monotonic()
        answered = ping(env, [worker.hostname for worker in pool])
    finally:
        for worker in pool:
            worker.stop()

    received = read_received(data_dir / "received")
    queue = data_dir / "celery" / "queue"
    return StressResult(
        transport=transport,
        published=expected,
        received=len(received),
        lost=len({f"p{n}-{i}" for n in range(producers) for i in range(tasks)} - set(received)),
        duplicated=sum(received.values()) - len(received),
        crashes=crashes,
        unrecoverable=sum(worker.log().count(CRASH_MARK) for worker in pool),
        rejected=len(list((queue / "rejected").glob("*"))),
        stranded=len(list(queue.glob("*.celery.msg"))),
        answered_ping=answered,
        publish_wall=published_at - started,
        wall=last_arrival - started,
        logs=pool_logs(pool),
    )


def pool_logs(pool: list[Worker]) -> str:
    """Each worker's first crash, or else the end of its log."""
    excerpts = []
    for worker in pool:
        log = worker.log()
        crash = log.find(CRASH_MARK)
        excerpts.append(f"--- {worker.hostname}\n{log[crash : crash + 2000] if crash >= 0 else log[-2000:]}\n")
    return "".join(excerpts)


def ping(env: dict[str, str], hostnames: list[str]) -> int:
    """How many workers answer `celery inspect ping` (the remote control goes through the broker's folders too)."""
    result = subprocess.run(
        [CELERY, "-A", "benchmarks.broker_app", "inspect", "ping", "--timeout", "5", "-d", ",".join(hostnames)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout.count("pong")


def report(args: argparse.Namespace, result: StressResult) -> None:
    name = {"atomic": "the embedded broker (webadmit_dash.embedded_broker)", "old": "kombu's filesystem transport"}
    print(
        f"\nBroker stress: {name[result.transport]}, {args.producers} producers x {args.tasks:,} tasks, "
        f"{args.workers} x `celery worker --pool=threads --concurrency={args.concurrency}`, "
        f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end)\n"
    )
    rows = [
        ("tasks published", f"{result.published:,}"),
        ("tasks received (distinct ids recorded)", f"{result.received:,}"),
        ("lost", f"{result.lost:,} ({result.stranded:,} of them still in the queue folder)"),
        ("duplicated", f"{result.duplicated:,}"),
        ("worker crashes (restarted)", f"{result.crashes} ({result.unrecoverable} 'Unrecoverable error' logged)"),
        ("messages moved to rejected/", f"{result.rejected:,}"),
        ("workers answering inspect ping at the end", f"{result.answered_ping} of {args.workers}"),
        ("wall time, producers' start to their exit", f"{result.publish_wall:.1f} s"),
        ("wall time, first publish to last arrival", f"{result.wall:.1f} s"),
        ("throughput", f"{result.throughput:,.0f} tasks/s"),
    ]
    for label, value in rows:
        print(f"  {label:<45} {value}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", choices=["atomic", "old"], default="atomic")
    parser.add_argument("--producers", type=int, default=4, help="concurrent producer processes")
    parser.add_argument("--tasks", type=int, default=5000, help="tasks per producer")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker")
    parser.add_argument("--rate", type=float, default=0, help="tasks a second per producer (0: as fast as it can)")
    parser.add_argument("--polling-interval", type=float, help="seconds; default: the product's (settings.py)")
    parser.add_argument("--stall", type=float, default=20.0, help="seconds without an arrival that end the run")
    parser.add_argument("--json", action="store_true", help="the result as one line of JSON, for a program to read")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="webadmit-broker-") as folder:
        print(f"Publishing {args.producers} x {args.tasks:,} tasks on the {args.transport} transport ...", flush=True)
        result = stress(
            Path(folder),
            transport=args.transport,
            producers=args.producers,
            tasks=args.tasks,
            workers=args.workers,
            concurrency=args.concurrency,
            rate=args.rate,
            polling_interval=args.polling_interval,
            stall=args.stall,
        )
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
        return
    report(args, result)
    if result.crashes or result.unrecoverable:
        print(f"\nFrom the workers' logs:\n{result.logs}")


if __name__ == "__main__":
    main()
