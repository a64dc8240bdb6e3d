"""The engine end to end: a real Celery worker (and beat) refreshing identities from the running simulator,
through redelivered tasks and a worker killed with SIGKILL in the middle of a refresh."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from tests.support.waiting import eventually
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.core.models import EngineHeartbeat, ExportFile, StatusChange, UserIdentity
from webadmit_dash.engine import on_demand
from webadmit_dash.engine.tasks import dispatch_due_refreshes, run_refresh

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The engine at test speed: beat every second, fast cadence one second, short HTTP timeouts (and so a short lock).
FAST_ENGINE = {
    "WEBADMIT_DISPATCH_EVERY": "1",
    "WEBADMIT_FAST_INTERVAL": "1",
    "WEBADMIT_SLOW_FLOOR": "2",
    "WEBADMIT_CONNECT_TIMEOUT": "1",
    "WEBADMIT_READ_TIMEOUT": "2",
}


def status_of(file_id: int) -> str | None:
    return ExportFile.objects.filter(webadmit_id=file_id).values_list("status", flat=True).first()


def steps_of(file_id: int) -> list[tuple[str, str]]:
    changes = StatusChange.objects.filter(export_file__webadmit_id=file_id).order_by("pk")
    return list(changes.values_list("old_status", "new_status"))


def all_refreshed() -> bool:
    return not UserIdentity.objects.filter(last_success_at__isnull=True).exists()


@pytest.fixture
def engine(transactional_db: None) -> Iterator[CeleryWorker]:
    """A worker with embedded beat, as `make run` starts it, at test speed."""
    purge_queue()
    worker = CeleryWorker(beat=True, env=FAST_ENGINE)
    try:
        yield worker.start()
    finally:
        worker.close()


def test_the_worker_and_beat_keep_every_identity_fresh_through_a_files_lifecycle(sim_identities, sim, engine):
    eventually(all_refreshed, what="the first sweep")
    for identity in sim_identities:
        listed = set(sim.file_ids(identity.webadmit_id))
        assert set(identity.files.values_list("webadmit_id", flat=True)) == listed
    assert not ExportFile.objects.filter(export__isnull=True).exists(), "every file has its export's name"

    file_id = sim.add_run(sim_identities[1].webadmit_id)
    eventually(lambda: status_of(file_id) == "initializing", what="the new run")
    for raw, status in [
        ("Queued", "queued"),
        ("In Progress", "in_progress"),
        ("Success With Errors", "success_with_errors"),
    ]:
        sim.force(file_id, raw)
        eventually(lambda status=status: status_of(file_id) == status, what=status)

    assert steps_of(file_id) == [
        ("", "initializing"),
        ("initializing", "queued"),
        ("queued", "in_progress"),
        ("in_progress", "success_with_errors"),
    ]
    heartbeat = EngineHeartbeat.objects.get(name=EngineHeartbeat.DISPATCHER)
    assert (timezone.now() - heartbeat.beat_at).total_seconds() < 5


def test_a_redelivered_or_duplicated_task_records_each_transition_once(sim_identity, sim, celery_worker_process):
    def deliver_three_times(task_id: str) -> None:
        # The same message delivered again, and once more alongside: what a redelivery looks like to a worker.
        for _ in range(3):
            run_refresh.apply_async(kwargs={"identity_id": sim_identity.pk}, task_id=task_id)
        done = f"[{task_id}] succeeded"
        eventually(lambda: celery_worker_process.count_in_log(done) == 3, what=f"three deliveries of {task_id}")

    deliver_three_times("first-sight")
    file_id = sim.file_ids(sim_identity.webadmit_id)[0]
    sim.force(file_id, "Empty List")
    deliver_three_times("after-a-transition")

    assert steps_of(file_id)[-1][1] == "empty_list"
    assert len(steps_of(file_id)) == len(set(steps_of(file_id)))
    history = list(StatusChange.objects.values_list("export_file_id", "old_status", "new_status"))
    assert len(history) == len(set(history)) == ExportFile.objects.count() + 1


def dispatching(condition: Callable[[], object]) -> Callable[[], object]:
    """The condition, after a dispatcher run: beat's job, done here so that SIGKILL leaves no orphaned beat."""

    def check() -> object:
        dispatch_due_refreshes()
        return condition()

    return check


def test_a_worker_killed_mid_refresh_loses_nothing_and_the_next_one_finishes_the_job(sim_identities, sim):
    purge_queue()
    worker = CeleryWorker(env=FAST_ENGINE)
    target = sim_identities[0]
    try:
        worker.start()
        eventually(dispatching(all_refreshed), what="the first sweep")
        files_before = set(ExportFile.objects.values_list("pk", flat=True))
        history_before = StatusChange.objects.count()
        file_id = sim.file_ids(target.webadmit_id)[0]
        sim.force(file_id, "Failed")
        sim.fault("slow", target.webadmit_id, seconds=1.5)  # within the read timeout: a refresh in progress
        on_demand.request_refresh(target)
        eventually(lambda: UserIdentity.objects.get(pk=target.pk).refreshing_until, what="the refresh to start")

        worker.kill()

        assert set(ExportFile.objects.values_list("pk", flat=True)) == files_before
        assert StatusChange.objects.count() == history_before
        stuck = UserIdentity.objects.get(pk=target.pk)
        assert stuck.refreshing_until > timezone.now(), "the dead worker's lock is still held..."
        sim.clear_faults()
        worker.start()
        # ...until it expires by itself; then the dispatcher sends the identity again.
        eventually(dispatching(lambda: status_of(file_id) == "failed"), timeout=45, what="a refresh after restart")
    finally:
        worker.close()

    assert set(ExportFile.objects.values_list("pk", flat=True)) == files_before
    assert StatusChange.objects.count() == history_before + 1
    assert steps_of(file_id)[-1][1] == "failed"
    identity = UserIdentity.objects.get(pk=target.pk)
    assert identity.error_kind == "" and not identity.paused


def test_an_embedded_beat_dies_with_its_worker_killed_with_sigkill():
    """`worker --beat` (the README's one-line setup) runs beat in a child process; a worker killed with SIGKILL
    used to leave it behind, still queueing work, and each restart added another scheduler."""
    purge_queue()
    worker = CeleryWorker(beat=True, env=FAST_ENGINE)
    try:
        worker.start()
        worker.wait_for_log("beat: Starting")
        beats = wait_for_children(worker.pid)

        os.kill(worker.pid, signal.SIGKILL)  # the worker alone, as the OOM killer or a crash would

        eventually(lambda: not any(alive(pid) for pid in beats), timeout=10, what="the embedded beat to stop")
    finally:
        worker.close()


def wait_for_children(pid: int) -> list[int]:
    found: list[int] = []

    def children() -> bool:
        result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        found[:] = [int(line) for line in result.stdout.split()]
        return bool(found)

    eventually(children, timeout=20, what="the embedded beat process")
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by init) counts as stopped.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
