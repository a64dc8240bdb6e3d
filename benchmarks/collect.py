"""Collect and deliver under load: files that become Available fetched once into the encrypted archive and delivered
to a folder and to SFTP, then one big file to a folder with the worker's memory watched.

    .venv/bin/python -m benchmarks.collect [--files 200] [--file-size 5MB] [--latency-ms 100] [--workers 2]
                                           [--concurrency 4] [--big-file-size 500MB] [--skip-big]

Everything is throwaway: a temporary DATA_DIR holding a SQLite database (migrated here), the filesystem broker and
the archive; a simulated WebAdMIT serving files of --file-size on a free port, an SFTP server (tests/support's
asyncssh server) and an outbox folder, all in this process; real Celery workers consuming the collection queue
(`celery -A webadmit_dash worker -Q collection --pool=threads`) as subprocesses. This process plays beat and the
default queue's worker: it runs `collection.tasks.dispatch` every COLLECT_EVERY seconds (5, the demo's setting),
which sends the transfers (`collect`, `deliver`) to the collection queue.

The files become Available at one moment (forced in the simulator), and the engine's refresh (`refresh_identity`,
the function the refresh task runs) stores that right away, so every file is owed at once: the burst is the worst
case for the time from Available to delivered. The figures:

1. the burst: MB/s (the files' bytes over the wall time from Available to the last delivery), the workers' CPU per
   MB collected (utime + stime from /proc; each MB is downloaded, encrypted, and delivered twice), time from
   Available to delivered to both destinations per file (p50, p99; target <= 30 s), the workers' peak memory (VmHWM);
2. one --big-file-size file collected and delivered to the folder by a fresh worker: its peak resident set size
   (VmHWM), which must stay under 150 MB whatever the file's size (everything streams in chunks);
3. the refresh benchmark's own figures, which this benchmark does not rerun: the command to run is printed.

The machine running this also runs the simulator and the SFTP server (both in this process, which CPU figure 1 does
not count): on 2 shared cores, the figures are noisy and the wall time is the machine's, not the workers' alone.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks._django import setup_throwaway_django

API_KEY = "0123456789abcdef0123456789abcdef"
LATENCY_TARGET_S = 30.0
BIG_MEMORY_TARGET_MB = 150.0
FILES_PER_IDENTITY = 50  # the burst's files are spread over identities, as many offices' would be
MB = 1_000_000


def _size(text: str) -> int:
    from webadmit_dash.simulator.contents import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark: gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.2)


class Worker:
    """A real collection worker in its own process group, so that its threads and nothing else are measured."""

    def __init__(self, concurrency: int, log_path: Path, name: str) -> None:
        from django.conf import settings

        celery = str(Path(sys.executable).with_name("celery"))
        self.log_path = log_path
        self.hostname = f"{name}@{os.uname().nodename}"
        # Prefetch 1: a collection task lasts seconds, so a worker holding messages it cannot start yet would only
        # keep them from an idle one.
        self.process = subprocess.Popen(
            [celery, "-A", "webadmit_dash", "worker", "-Q", settings.COLLECTION_QUEUE, "--pool=threads",
             f"--concurrency={concurrency}", "--prefetch-multiplier=1", "--without-gossip", "--without-mingle",
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

        _wait(ready, 60, "the worker")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, every thread's

    def peak_memory_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kilobytes = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        return kilobytes * 1024 / MB

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def running_workers(count: int, concurrency: int, data_dir: Path, name: str) -> Iterator[list[Worker]]:
    workers = [Worker(concurrency, data_dir / f"{name}{n}.log", f"{name}{n}") for n in range(count)]
    try:
        for worker in workers:
            worker.wait_ready()
        yield workers
    finally:
        for worker in workers:
            worker.stop()


@dataclass(frozen=True)
class Place:
    """Where the run's files go: the simulator, the destinations and the folders they write to."""

    sim: Any  # SimulatorServer (typed loosely: imported only once Django is set up)
    credential: Any  # Credential
    outbox: Any  # the folder Destination
    sftp: Any  # the SFTP Destination
    outbox_dir: Path
    sftp_dir: Path


def _world_and_destinations(args: argparse.Namespace, data_dir: Path, stack: ExitStack) -> Place:
    from tests.support.sftp_server import SftpServer
    from webadmit_dash.collection.models import Destination
    from webadmit_dash.core.models import Credential
    from webadmit_dash.engine import credentials
    from webadmit_dash.simulator.data import SimulatedWorld
    from webadmit_dash.simulator.server import SimulatorServer

    # No files at first: the benchmark adds its own runs. One identity more, for the big file.
    identities = math.ceil(args.files / FILES_PER_IDENTITY) + 1
    world = SimulatedWorld(
        seed=21, identities=identities, files_per_identity=0, pace=86_400, new_run_every=None, file_size=args.file_size
    )
    # The budget is the benchmark's to spend: the collection share is tested elsewhere.
    sim = stack.enter_context(
        SimulatorServer(world, [API_KEY], latency=args.latency_ms / 1000, rate_limit_per_hour=10**6)
    )
    credential = Credential(name="Collect", base_url=sim.base_url)
    credential.set_api_key(API_KEY)
    credential.save()
    credentials.import_identities(credential)

    outbox_dir = data_dir / "outbox"
    outbox_dir.mkdir()
    outbox = Destination.objects.create(name="Outbox", kind=Destination.Kind.FOLDER, path=str(outbox_dir))
    sftp_root = data_dir / "sftp"
    (sftp_root / "incoming").mkdir(parents=True)
    server = stack.enter_context(SftpServer(sftp_root))
    sftp = server.destination()
    return Place(sim, credential, outbox, sftp, outbox_dir, sftp_root / "incoming")


def _identities(place: Place) -> list[Any]:
    from webadmit_dash.core.models import UserIdentity

    return list(UserIdentity.objects.filter(credential=place.credential).order_by("pk"))


def _start_runs(place: Place, identity: Any, count: int) -> list[int]:
    """`count` new runs of the identity's exports, still running (a pace of a day), stored by a refresh."""
    from webadmit_dash.engine.refresh import refresh_identity

    world = place.sim.world
    ids = [world.add_run(identity.webadmit_id, outcome="available").id for _ in range(count)]
    refresh_identity(identity.pk)
    return ids


def _make_available(place: Place, identities: list[Any], file_ids: list[int]) -> datetime:
    """Every file turns Available now, and the engine's refresh stores it; returns the moment they turned."""
    from django.utils import timezone

    from webadmit_dash.engine.refresh import refresh_identity

    became_available = timezone.now()
    for file_id in file_ids:
        place.sim.world.force_status(file_id, "Available")
    for identity in identities:
        outcome = refresh_identity(identity.pk)
        assert outcome.error is None, outcome
    return became_available


class Beat:
    """Runs the collection dispatcher every COLLECT_EVERY seconds, as beat and the default queue's worker do."""

    def __init__(self) -> None:
        from django.conf import settings

        self.every = float(settings.COLLECT_EVERY)
        self.last = -math.inf

    def tick(self) -> None:
        from webadmit_dash.collection import tasks

        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            tasks.dispatch()


def _run_until_delivered(expected_deliveries: int, identity_ids: list[int], timeout: float) -> None:
    from webadmit_dash.collection.models import CollectedFile, FileDelivery

    beat = Beat()
    deliveries = FileDelivery.objects.filter(collected__identity_id__in=identity_ids)

    def done() -> bool:
        beat.tick()
        failed = [
            *deliveries.filter(state=FileDelivery.State.FAILED).values_list("last_error", flat=True)[:1],
            *CollectedFile.objects.filter(identity_id__in=identity_ids, state=CollectedFile.State.FAILED).values_list(
                "last_error", flat=True
            )[:1],
        ]
        if failed:
            raise SystemExit(f"benchmark: failed for good: {failed[0]}")
        return deliveries.filter(state=FileDelivery.State.DELIVERED).count() >= expected_deliveries

    _wait(done, timeout, f"{expected_deliveries} deliveries")


def _delivered_after(identity_ids: list[int], became_available: datetime) -> list[float]:
    """Per file: seconds from Available until its last destination had it."""
    from django.db.models import Max

    from webadmit_dash.collection.models import CollectedFile

    rows = CollectedFile.objects.filter(identity_id__in=identity_ids).annotate(last=Max("deliveries__delivered_at"))
    return sorted((row.last - became_available).total_seconds() for row in rows)


def _collected_after(identity_ids: list[int], became_available: datetime) -> list[float]:
    """Per file: seconds from Available until it was in the archive."""
    from webadmit_dash.collection.models import CollectedFile

    moments = CollectedFile.objects.filter(identity_id__in=identity_ids).values_list("collected_at", flat=True)
    return sorted((moment - became_available).total_seconds() for moment in moments if moment is not None)


def _retried(identity_ids: list[int]) -> int:
    from webadmit_dash.collection.models import CollectedFile, FileDelivery

    return (
        FileDelivery.objects.filter(collected__identity_id__in=identity_ids, attempts__gt=1).count()
        + CollectedFile.objects.filter(identity_id__in=identity_ids, attempts__gt=1).count()
    )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def burst(args: argparse.Namespace, data_dir: Path, place: Place) -> dict[str, Any]:
    from webadmit_dash.collection.models import DeliveryRule
    from webadmit_dash.engine.models import CollectionCall

    identities = _identities(place)[:-1]
    print(f"Adding {args.files} runs of {args.file_size / MB:g} MB over {len(identities)} identities ...", flush=True)
    file_ids: list[int] = []
    for number, identity in enumerate(identities):
        file_ids += _start_runs(place, identity, min(FILES_PER_IDENTITY, args.files - number * FILES_PER_IDENTITY))
    for identity in identities:
        for destination in (place.outbox, place.sftp):
            DeliveryRule.objects.create(destination=destination, identity=identity)
    identity_ids = [identity.pk for identity in identities]
    with running_workers(args.workers, args.concurrency, data_dir, "collect") as workers:
        print(f"{args.workers} workers ready ({args.concurrency} threads each); {args.files} files turn Available")
        cpu, here = sum(worker.cpu_seconds() for worker in workers), time.process_time()
        started = time.monotonic()
        became_available = _make_available(place, identities, file_ids)
        _run_until_delivered(2 * args.files, identity_ids, timeout=1800)
        wall = time.monotonic() - started
        cpu, here = sum(worker.cpu_seconds() for worker in workers) - cpu, time.process_time() - here
        memory = max(worker.peak_memory_mb() for worker in workers)
    megabytes = args.files * args.file_size / MB
    latencies = _delivered_after(identity_ids, became_available)
    assert len(latencies) == args.files, latencies
    archived = _collected_after(identity_ids, became_available)
    _check_delivered(place, args.files)
    return {
        "wall": wall,
        "mb_per_s": megabytes / wall,
        "cpu_per_mb": cpu / megabytes,
        "cpu": cpu,
        "here_cpu": here,
        # More than one link per file: a file collected twice (a claim that ran out while its message waited).
        "links": CollectionCall.objects.count(),
        "archived_p50": _percentile(archived, 0.50),
        "archived_p99": _percentile(archived, 0.99),
        "p50": _percentile(latencies, 0.50),
        "p99": _percentile(latencies, 0.99),
        "max": latencies[-1],
        "memory": memory,
        "retried": _retried(identity_ids),
    }


def _check_delivered(place: Place, count: int) -> None:
    """Each destination holds every file once, and nothing else (no leftover temporary file)."""
    for folder in (place.outbox_dir, place.sftp_dir):
        names = os.listdir(folder)
        assert len(names) == count and not any(name.startswith(".") for name in names), (folder, len(names))


def big_file(args: argparse.Namespace, data_dir: Path, place: Place) -> dict[str, Any]:
    from webadmit_dash.collection.models import DeliveryRule, FileDelivery
    from webadmit_dash.simulator import expected_sha256

    # The burst's copies are done with: a big file should not fill the disk on top of them.
    for folder in (place.outbox_dir, place.sftp_dir, data_dir / "archive" / "files"):
        shutil.rmtree(folder, ignore_errors=True)
    place.outbox_dir.mkdir(exist_ok=True)
    identity = _identities(place)[-1]
    place.sim.world.set_file_size(args.big_file_size)
    print(f"One {args.big_file_size / MB:g} MB file, to the folder, by a fresh worker ...", flush=True)
    [file_id] = _start_runs(place, identity, 1)
    DeliveryRule.objects.create(destination=place.outbox, identity=identity)
    with running_workers(1, args.concurrency, data_dir, "big") as [worker]:
        idle = worker.peak_memory_mb()
        started = time.monotonic()
        became_available = _make_available(place, [identity], [file_id])
        _run_until_delivered(1, [identity.pk], timeout=1800)
        wall = time.monotonic() - started
        memory = worker.peak_memory_mb()
    delivery = FileDelivery.objects.get(collected__identity=identity)
    assert delivery.collected.sha256 == expected_sha256(file_id, args.big_file_size, delivery.collected.content_type)
    assert (place.outbox_dir / delivery.file_name).stat().st_size == args.big_file_size
    assert delivery.delivered_at is not None
    return {
        "wall": wall,
        "latency": (delivery.delivered_at - became_available).total_seconds(),
        "memory": memory,
        "idle": idle,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--file-size", type=_size, default="5MB", help="each file's size (5MB, 64KiB, 1234)")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="added by the simulator to every API call")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (one per core)")
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker")
    parser.add_argument("--big-file-size", type=_size, default="500MB", help="the big file's size")
    parser.add_argument("--skip-big", action="store_true", help="leave the big file out")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="webadmit-bench-") as folder, ExitStack() as stack:
        data_dir = Path(folder)
        setup_throwaway_django(data_dir)
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        began = time.monotonic()
        place = _world_and_destinations(args, data_dir, stack)
        figures = burst(args, data_dir, place)
        big = None if args.skip_big else big_file(args, data_dir, place)
        total = time.monotonic() - began
    report(args, figures, big, total)


def report(args: argparse.Namespace, burst: dict[str, Any], big: dict[str, Any] | None, total: float) -> None:
    from django.conf import settings

    print(
        f"\nCollect and deliver benchmark: {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end), "
        f"SQLite, filesystem broker, {args.workers} x `celery worker -Q collection --pool=threads "
        f"--concurrency={args.concurrency}`, {args.latency_ms:.0f} ms latency per API call, dispatch every "
        f"{settings.COLLECT_EVERY} s; {total:.0f} s in all\n"
    )
    megabytes = args.files * args.file_size / MB
    rows = [
        (
            f"{args.files} files x {args.file_size / MB:g} MB turn Available at once: collected into the archive, "
            "delivered to a folder and to SFTP",
            f"{burst['wall']:.1f} s wall, {burst['mb_per_s']:.1f} MB/s ({megabytes:,.0f} MB; "
            f"{burst['retried']} tries repeated, {burst['links']} download links asked for)",
            f"{args.files} links",
        ),
        (
            "worker CPU per MB (download, encrypt, 2 deliveries with their checks)",
            f"{burst['cpu_per_mb'] * 1000:.0f} ms ({burst['cpu']:.0f} s in all; {burst['here_cpu']:.0f} s CPU here, "
            "for the simulator, the SFTP server and the dispatcher)",
            "-",
        ),
        (
            "Available -> in the archive, per file",
            f"p50 {burst['archived_p50']:.1f} s, p99 {burst['archived_p99']:.1f} s",
            "-",
        ),
        (
            "Available -> delivered to both destinations, per file",
            f"p50 {burst['p50']:.1f} s, p99 {burst['p99']:.1f} s (max {burst['max']:.1f} s)",
            f"<= {LATENCY_TARGET_S:.0f} s",
        ),
        ("worker peak memory (VmHWM of the largest worker process)", f"{burst['memory']:.0f} MB", "-"),
    ]
    if big is not None:
        rows += [
            (
                f"one {args.big_file_size / MB:g} MB file collected and delivered to a folder by a fresh worker",
                f"{big['wall']:.1f} s wall (Available -> delivered {big['latency']:.1f} s)",
                "-",
            ),
            (
                "  its worker's peak resident memory (VmHWM)",
                f"{big['memory']:.0f} MB ({big['idle']:.0f} MB when idle, before it)",
                f"< {BIG_MEMORY_TARGET_MB:.0f} MB",
            ),
        ]
    rows.append(
        (
            "refresh engine unchanged (1 row written, 4 queries; sweep no slower by more than 10 %)",
            "not run here: .venv/bin/python -m benchmarks.refresh --sweep-only",
            "as its own table",
        )
    )
    for label, value, target in rows:
        print(f"  {label}\n      {value:<90} target {target}")


if __name__ == "__main__":
    main()
