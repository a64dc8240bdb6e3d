"""Collection's tasks go to the collection queue: a worker of the default queue (the refresher) never runs them, and
a worker consuming that queue (runstack's collector, compose's collector service) does."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.utils import timezone

from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.collection.models import CollectedFile
from webadmit_dash.collection.tasks import collect

pytestmark = pytest.mark.worker

DONE = "Task webadmit_dash.collection.tasks.collect["


def send_collect(identity) -> CollectedFile:
    """A collect task whose claim is not the file's (nobody claimed it): it runs in milliseconds and writes nothing,
    as a message delivered twice would."""
    waiting = CollectedFile.objects.create(
        identity=identity, file_webadmit_id=1, export_webadmit_id=2, export_name="Nightly", finished_at=timezone.now()
    )
    collect.delay(pk=waiting.pk, token=timezone.now().isoformat())
    return waiting


def test_a_collection_task_waits_for_a_worker_of_the_collection_queue(transactional_db, identity):
    purge_queue()
    refresher = CeleryWorker(name="refresher")
    collector = CeleryWorker(name="collector", queues=(settings.COLLECTION_QUEUE,), concurrency=2)
    try:
        refresher.start()
        waiting = send_collect(identity)
        time.sleep(3)  # a refresher that took it would have run it by now: it takes milliseconds
        assert DONE not in refresher.log()
        collector.start()
        collector.wait_for_log(DONE, timeout=30)
        assert "] succeeded in" in collector.log()
        assert DONE not in refresher.log()
        waiting.refresh_from_db()
        assert waiting.state == CollectedFile.State.WAITING  # not its claim: nothing written
    finally:
        refresher.close()
        collector.close()


def test_purging_empties_the_collection_queue_too(transactional_db, identity):
    purge_queue()
    send_collect(identity)
    assert purge_queue() >= 1
    collector = CeleryWorker(name="collector", queues=("celery", settings.COLLECTION_QUEUE), concurrency=2)
    try:
        collector.start()
        time.sleep(2)
        assert DONE not in collector.log()
    finally:
        collector.close()
