"""A real Celery worker with embedded beat starts a due schedule's run from the simulator, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.waiting import eventually
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.core.models import Export, RunRequest
from webadmit_dash.schedules.models import Schedule, ScheduledRun

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def engine(transactional_db: None) -> Iterator[CeleryWorker]:
    purge_queue()
    worker = CeleryWorker(beat=True, env={"WEBADMIT_DISPATCH_EVERY": "1"}, name="schedules-test")
    try:
        yield worker.start()
    finally:
        worker.close()


def test_beat_starts_a_due_schedule_once(sim_export: Export, engine: CeleryWorker) -> None:
    daily = Schedule.objects.create(export=sim_export, kind="daily", times="06:00")
    Schedule.objects.filter(pk=daily.pk).update(next_run_at=timezone.now() - timedelta(seconds=2))

    eventually(lambda: ScheduledRun.objects.filter(schedule=daily).exists(), timeout=30, what="the scheduled run")
    eventually(
        lambda: Schedule.objects.filter(pk=daily.pk, last_outcome="started").exists(), timeout=10, what="its record"
    )

    run = ScheduledRun.objects.get(schedule=daily)
    assert run.outcome == "started" and run.run_request is not None
    assert run.run_request.source == "schedule" and run.run_request.run_webadmit_id
    daily.refresh_from_db()
    assert daily.next_run_at is not None and daily.next_run_at > timezone.now()
    assert RunRequest.objects.count() == 1  # several beats went by: one start
