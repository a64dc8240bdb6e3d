"""Celery tasks of the schedules app: thin, the work is `dispatch.dispatch`, tested without Celery."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from webadmit_dash.schedules import dispatch


@shared_task(
    name="webadmit_dash.schedules.tasks.dispatch_due",
    acks_late=False,
    ignore_result=True,
    # Each slot waits on at most one interactive E4 call (short timeouts of its own); a few of them at once.
    soft_time_limit=max(60, 4 * settings.WEBADMIT_DISPATCH_EVERY),
    time_limit=max(60, 4 * settings.WEBADMIT_DISPATCH_EVERY) + 10,
)
def dispatch_due() -> int:
    """Beat runs this every WEBADMIT_DISPATCH_EVERY seconds. Not acknowledged late: a lost one is done by the next
    beat, and a doubled one is harmless (each slot is claimed with a conditional update)."""
    return len(dispatch.dispatch(timezone.now()))
