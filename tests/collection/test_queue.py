"""Collection's tasks go to the collection queue: a worker of the default queue (the refresher) never runs them, and
a worker consuming that queue (runstack's collector, compose's collector service) does."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.collection.tasks import prune_archive

pytestmark = pytest.mark.worker

DONE = "Task webadmit_dash.collection.tasks.prune_archive["


def test_a_collection_task_waits_for_a_worker_of_the_collection_queue(transactional_db):
    purge_queue()
    refresher = CeleryWorker(name="refresher")
    collector = CeleryWorker(name="collector", queues=(settings.COLLECTION_QUEUE,), concurrency=2)
    try:
        refresher.start()
        prune_archive.delay()
        time.sleep(3)  # a refresher that took it would have run it by now: it takes milliseconds
        assert DONE not in refresher.log()
        collector.start()
        collector.wait_for_log(DONE, timeout=30)
        assert "] succeeded in" in collector.log()
        assert DONE not in refresher.log()
    finally:
        refresher.close()
        collector.close()


def test_purging_empties_the_collection_queue_too(transactional_db):
    purge_queue()
    prune_archive.delay()
    assert purge_queue() >= 1
    collector = CeleryWorker(name="collector", queues=("celery", settings.COLLECTION_QUEUE), concurrency=2)
    try:
        collector.start()
        time.sleep(2)
        assert DONE not in collector.log()
    finally:
        collector.close()
