"""A worker SIGKILLed in the middle of an upload: nothing partial ever appears under the final name, and a worker
started afterwards delivers the file exactly once.

Real processes throughout: a Celery worker subprocess consuming the collection queue collects a large file from the
simulator over HTTP and uploads it to a folder or to an SFTP server over TCP; the test watches the transport's
temporary `.<name>.part` grow and kills the worker's process group while it does. The dispatcher runs on the default
queue in production; here the test runs it (every second, as beat would every COLLECT_EVERY seconds), and it sends
the transfers to the workers' queue. The dead worker's claim runs out after COLLECTION_LEASE_SECONDS (5 s here), so
the next dispatch sends the delivery to the new worker. A transport writing straight to the final name fails this
test: no `.part` ever grows, or the final name appears before the restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.collection.conftest import ready_files
from tests.support.sftp_server import SftpServer
from tests.support.waiting import eventually
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.collection import tasks
from webadmit_dash.collection.models import CollectedFile, DeliveryRule, Destination, FileDelivery
from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.simulator import expected_sha256
from webadmit_dash.simulator.data import SimulatedWorld

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Large enough that an upload lasts long enough to be caught part-way, even on a busy machine.
BIG_FILE = 60_000_000
LEASE_SECONDS = 5
CRASHING_WORKER_ENV = {"COLLECTION_LEASE_SECONDS": str(LEASE_SECONDS), "PYTHONUNBUFFERED": "1"}


class CollectionWorker(CeleryWorker):
    """tests/support/worker.py's worker (same command, same environment), consuming the collection queue."""

    def command(self) -> list[str]:
        return [*super().command(), "-Q", settings.COLLECTION_QUEUE]


@pytest.fixture
def world() -> SimulatedWorld:
    return SimulatedWorld(
        seed=21, identities=1, files_per_identity=6, pace=86_400, new_run_every=None, file_size=BIG_FILE
    )


@pytest.fixture
def workers() -> Iterator[list[CollectionWorker]]:
    """Workers the test starts, each closed (stopped, its log removed) at the end, whatever happened."""
    purge_queue()
    started: list[CollectionWorker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.close()
        purge_queue()


def _start(workers: list[CollectionWorker], name: str) -> CollectionWorker:
    worker = CollectionWorker(concurrency=2, env=CRASHING_WORKER_ENV, name=name)
    workers.append(worker)
    worker.start(timeout=60)
    return worker


def _destination(kind: str, tmp_path: Path, stack: contextlib.ExitStack) -> tuple[Destination, Path]:
    """The destination and the local folder its files land in (an SFTP server's root is a folder here too)."""
    if kind == "folder":
        outbox = tmp_path / "outbox"
        outbox.mkdir()
        return Destination.objects.create(name="Outbox", kind=Destination.Kind.FOLDER, path=str(outbox)), outbox
    root = tmp_path / "sftp-root"
    (root / "incoming").mkdir(parents=True)
    server = stack.enter_context(SftpServer(root))
    destination = server.destination()
    return destination, root / "incoming"


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _kill_while_uploading(worker: CollectionWorker, folder: Path, timeout: float = 120) -> tuple[str, int]:
    """Runs the dispatcher as beat would, watches `folder` for a `.<name>.part` and SIGKILLs the worker once that holds
    some but not all of the file; returns the name and how many bytes the temporary file held. Fails if any file shows
    up under a final name first (a transport that skips the temporary name)."""
    deadline = time.monotonic() + timeout
    beat = 0.0
    while True:
        if time.monotonic() - beat >= 1:
            beat = time.monotonic()
            tasks.dispatch()
        names = os.listdir(folder)
        finals = [name for name in names if not name.startswith(".")]
        assert not finals, f"{finals} appeared under a final name before the upload was interrupted"
        parts = [name for name in names if name.startswith(".") and name.endswith(".part")]
        size = _size(folder / parts[0]) if parts else None
        if size is not None and 0 < size < BIG_FILE // 2:
            worker.kill()
            break
        if worker.process is not None and worker.process.poll() is not None:
            raise AssertionError(f"the worker exited on its own:\n{worker.log()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no partial .part file seen within {timeout:.0f} s; in {folder}: {sorted(names)}\n"
                + worker.log()[-3000:]
            )
        time.sleep(0.002)  # the machine is shared: look often, an upload to a folder lasts a fraction of a second
    left = _size(folder / parts[0]) or 0
    assert 0 < left < BIG_FILE, f"the worker was not killed in the middle of the upload ({left:,} bytes written)"
    return parts[0][1 : -len(".part")], left


def _beat_until(condition: Callable[[], object], what: str, timeout: float = 120) -> None:
    """Runs the dispatcher every second (beat: every COLLECT_EVERY seconds) until `condition()` holds."""
    last = 0.0

    def done() -> bool:
        nonlocal last
        if time.monotonic() - last >= 1:
            last = time.monotonic()
            tasks.dispatch()
        return bool(condition())

    eventually(done, timeout=timeout, what=what, every=0.2)


@pytest.mark.parametrize("kind", ["folder", "sftp"])
def test_a_worker_killed_mid_upload_leaves_nothing_under_the_final_name_and_the_next_delivers_once(
    kind: str, refreshed: UserIdentity, workers: list[CollectionWorker], tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        destination, folder = _destination(kind, tmp_path, stack)
        target: ExportFile = ready_files(refreshed)[0]
        DeliveryRule.objects.create(destination=destination, export=target.export)
        first = _start(workers, "crash-first")

        name, written = _kill_while_uploading(first, folder)
        delivery = FileDelivery.objects.get()
        assert delivery.file_name == name

        assert not (folder / delivery.file_name).exists()
        delivery.refresh_from_db()
        # The dead try counted (a transfer that kills its worker every time must reach its last try) and wrote
        # nothing else.
        assert delivery.state == FileDelivery.State.PENDING and delivery.attempts == 1
        assert delivery.claimed_until is not None  # the dead worker's claim, still to run out

        second = _start(workers, "crash-second")
        _beat_until(
            lambda: FileDelivery.objects.filter(state=FileDelivery.State.DELIVERED).exists(),
            f"the delivery after the restart (the first worker had written {written:,} bytes)",
            timeout=180,
        )
        # A few more beats: a message of the dead worker's or a second dispatch must not deliver it again.
        time.sleep(LEASE_SECONDS + 1)
        _beat_until(lambda: True, "one more beat")
        time.sleep(2)
        second.stop()

        delivery.refresh_from_db()
        collected = CollectedFile.objects.get()
        assert target.export is not None
        expected = expected_sha256(target.webadmit_id, BIG_FILE, target.export.mime_type)
        assert sorted(os.listdir(folder)) == [delivery.file_name]  # one file, and the dead try's .part removed
        data = folder / delivery.file_name
        assert data.stat().st_size == BIG_FILE
        assert _sha256(data) == expected == collected.sha256
        assert delivery.state == FileDelivery.State.DELIVERED and delivery.claimed_until is None
        assert delivery.attempts == 2  # the killed try, then the one that delivered
        assert delivery.checksum_verified and delivery.remote_name.endswith(delivery.file_name)
        assert FileDelivery.objects.count() == 1 and collected.attempts == 1
        assert second.count_in_log("Delivered file") == 1, second.log()[-3000:]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
