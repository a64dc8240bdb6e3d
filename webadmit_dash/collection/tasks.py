"""Celery tasks of collection. The transfers (`collect`, `deliver`) run on a queue of their own (COLLECTION_QUEUE,
routed in settings) so a slow download or upload never delays a refresh; the dispatcher and the pruning stay on the
default queue, so they run on time however busy the transfers are. Thin and id-based, as the engine's are: the
work is in `collector`, `delivering`, `choosing` and `pruning`, tested without Celery.

Beat runs `dispatch` every COLLECT_EVERY seconds: it records what the rules owe (`choosing.scan`), then claims what
is due and sends one task per file or delivery with its claim's token. A message lost or a worker killed leaves a
claim that runs out (COLLECTION_LEASE_SECONDS), and the next dispatch sends it again; a message delivered twice
finds the claim changed and does nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from webadmit_dash.collection import choosing, claims, collector, delivering, pruning
from webadmit_dash.collection.models import CollectedFile, FileDelivery

logger = logging.getLogger(__name__)

# Per dispatch: enough to keep a few workers busy; the rest waits for the next beat.
SEND_AT_MOST = 200


@shared_task(name="webadmit_dash.collection.tasks.dispatch", acks_late=False, ignore_result=True)
def dispatch() -> dict[str, int]:
    looked = choosing.scan()
    now = timezone.now()  # after the scan: what it just recorded is due in this same dispatch
    collections = _send_due(CollectedFile, CollectedFile.State.WAITING, now, collect)
    deliveries = _send_due(FileDelivery, FileDelivery.State.PENDING, now, deliver)
    return {"looked_at": looked, "collections": collections, "deliveries": deliveries}


def _send_due(model: claims.Claimable, state: str, now: datetime, task: object) -> int:
    sent = 0
    for pk in claims.due_ids(model, state, now, SEND_AT_MOST):
        token = claims.claim(model, pk, state, now)
        if token is not None:
            send(task, pk, token)
            sent += 1
    return sent


def send(task: object, pk: int, token: datetime) -> None:
    transaction.on_commit(lambda: task.delay(pk=pk, token=token.isoformat()))  # type: ignore[attr-defined]


@shared_task(name="webadmit_dash.collection.tasks.collect", acks_late=True, ignore_result=True)
def collect(*, pk: int, token: str) -> bool:
    outcome = collector.collect(pk, token)
    # The deliveries the file now owes go at once rather than at the next beat.
    now = timezone.now()
    for delivery_pk in outcome.deliveries:
        claimed = claims.claim(FileDelivery, delivery_pk, FileDelivery.State.PENDING, now)
        if claimed is not None:
            send(deliver, delivery_pk, claimed)
    return outcome.collected


@shared_task(name="webadmit_dash.collection.tasks.deliver", acks_late=True, ignore_result=True)
def deliver(*, pk: int, token: str) -> str:
    return delivering.deliver(pk, token).state


@shared_task(name="webadmit_dash.collection.tasks.prune_archive", ignore_result=True)
def prune_archive() -> dict[str, int]:
    now = timezone.now()
    return {"pruned": pruning.prune(now), "orphans": pruning.sweep_orphans(now)}
