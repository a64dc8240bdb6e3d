"""Celery tasks: thin and idempotent; the work is in `fanout`, `watch` and `delivery`, tested without Celery.

Beat runs `fan_out` every few seconds (an empty outbox costs one indexed query), `deliver_due` for retries and
digests, `watch` every minute, `prune` hourly. Retries are not Celery's `retry()`: a delivery's next attempt lives in
the database (`Delivery.due_at`), so it survives a worker restart, and a lost task message costs nothing but a few
seconds until beat's next run.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webadmit_dash.notifications import delivery, fanout
from webadmit_dash.notifications import watch as watching
from webadmit_dash.notifications.models import Delivery, Event

logger = logging.getLogger(__name__)
FAN_OUT_BATCHES = 20  # per run: 10,000 transitions; a larger backlog continues at the next beat


@shared_task(name="webadmit_dash.notifications.tasks.fan_out", acks_late=False, ignore_result=True)
def fan_out() -> int:
    """Turns recorded transitions into deliveries, then sends the immediate ones at once."""
    transitions = immediate = 0
    for _ in range(FAN_OUT_BATCHES):
        result = fanout.fan_out()
        transitions += result.transitions
        immediate += result.immediate
        if result.transitions < fanout.BATCH_SIZE:
            break
    if immediate:
        send_soon()
    return transitions


@shared_task(name="webadmit_dash.notifications.tasks.deliver_due", acks_late=False, ignore_result=True)
def deliver_due() -> int:
    """Sends what is due (new, retries, digests). Not acknowledged late: a claim that dies with its worker is
    freed by its lease, and beat sends this task again within seconds."""
    result = delivery.deliver_due()
    if result.released:
        send_soon()  # the time budget ran out with more to send
    return result.sent


@shared_task(name="webadmit_dash.notifications.tasks.watch", acks_late=False, ignore_result=True)
def watch() -> int:
    result = watching.watch()
    if result.deliveries:
        send_soon()
    return result.stuck + result.credential_problems + result.all_clears + result.delivery_failures


@shared_task(name="webadmit_dash.notifications.tasks.prune", ignore_result=True)
def prune() -> int:
    """Forgets sent, failed and cancelled deliveries, and events, after WEBADMIT_RETENTION_DAYS."""
    cutoff = timezone.now() - timedelta(days=settings.WEBADMIT_RETENTION_DAYS)
    deliveries, _ = Delivery.objects.filter(created_at__lt=cutoff).exclude(state=Delivery.State.PENDING).delete()
    events, _ = Event.objects.filter(created_at__lt=cutoff, deliveries__isnull=True).delete()
    return deliveries + events


def send_soon() -> None:
    transaction.on_commit(deliver_due.delay)
