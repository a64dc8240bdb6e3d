"""Celery tasks of the schedules app: thin, the work is `dispatch.dispatch`, tested without Celery."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from webadmit_dash.schedules import dispatch

# Each slot waits on at most one interactive E4 call (its own short timeouts): no slot is claimed after BUDGET
# seconds, so the last start claimed ends well inside the time limit and the rest wait for the next beat.
BUDGET = 30
_ONE_START = settings.WEBADMIT_INTERACTIVE_CONNECT_TIMEOUT + settings.WEBADMIT_INTERACTIVE_READ_TIMEOUT
_LIMIT = BUDGET + 2 * _ONE_START + 10


@shared_task(
    name="webadmit_dash.schedules.tasks.dispatch_due",
    acks_late=False,
    ignore_result=True,
    soft_time_limit=_LIMIT,
    time_limit=_LIMIT + 5,
)
def dispatch_due() -> int:
    """Beat runs this every WEBADMIT_DISPATCH_EVERY seconds. Not acknowledged late: a lost one is done by the next
    beat, and a doubled one is harmless (each slot is claimed with a conditional update)."""
    return len(dispatch.dispatch(timezone.now(), budget=BUDGET))
