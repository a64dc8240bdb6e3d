"""The schedules' dispatcher: beat runs `dispatch(now)` every WEBADMIT_DISPATCH_EVERY seconds, and each schedule
whose next slot has come is dealt with once, by whichever dispatcher claims it.

A slot is claimed by moving the schedule's `next_run_at` on with a conditional update (only from the value read),
so two beats, or a beat and a redelivered task, never start one slot twice; ScheduledRun's one-per-slot constraint
backs that up. After downtime only the newest slot missed is considered: it is started when it is still useful
(no older than SCHEDULE_CATCH_UP_HOURS), otherwise recorded as skipped; the older ones are neither started nor
recorded one by one, so a dashboard stopped over a weekend does not fire a burst of runs when it comes back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from webadmit_dash.engine import on_demand
from webadmit_dash.schedules import signals, timing
from webadmit_dash.schedules.models import Schedule, ScheduledRun
from webadmit_dash.webadmit.errors import WebAdmitError

logger = logging.getLogger(__name__)

# A slot found this late is still on time whatever SCHEDULE_CATCH_UP_HOURS says (0 means "never catch up", not
# "skip a run because beat came a few seconds after its minute").
ON_TIME = timedelta(minutes=5)


@dataclass(frozen=True)
class Dealt:
    """One slot dealt with: which schedule, the slot, and what became of it (a ScheduledRun outcome)."""

    schedule_id: int
    slot: datetime
    outcome: str
    message: str


def dispatch(now: datetime, *, budget: float | None = None) -> list[Dealt]:
    """Deals with every enabled schedule whose next slot is due at `now`; returns what this dispatcher did (a slot
    another dispatcher claimed first is not in it). With a `budget` (seconds), no slot is claimed once it is spent:
    each start may wait on WebAdMIT, and the schedules left are claimed by the next beat, seconds later, rather
    than by a task its time limit would kill halfway through a start."""
    deadline = None if budget is None else time.monotonic() + budget
    due = (
        Schedule.objects.filter(enabled=True, next_run_at__lte=now)
        .select_related("export__identity__credential")
        .order_by("next_run_at", "pk")
    )
    dealt: list[Dealt] = []
    for schedule in due:
        if deadline is not None and time.monotonic() > deadline:
            break
        try:
            result = deal_with(schedule, now)
        except Exception:
            # One schedule's surprise (a row holding nonsense) must not stop the others; it is not due again
            # until its next slot, as the claim already moved it on.
            logger.exception("Schedule %s: its slot could not be dealt with", schedule.pk)
            continue
        if result is not None:
            dealt.append(result)
    return dealt


def deal_with(schedule: Schedule, now: datetime) -> Dealt | None:
    """Claims the schedule's due slot and starts, refuses or skips it; None when another dispatcher claimed it."""
    claimed = schedule.next_run_at
    if claimed is None:
        return None
    following = timing.next_slot(schedule, now)
    moved = Schedule.objects.filter(pk=schedule.pk, enabled=True, next_run_at=claimed).update(next_run_at=following)
    if not moved:
        return None
    schedule.next_run_at = following
    # Slots missed while nothing dispatched (the claimed one included): only the newest counts.
    missed = timing.slots_between(schedule, claimed - timedelta(microseconds=1), now) or [claimed]
    slot = missed[-1]
    try:
        with transaction.atomic():
            record = ScheduledRun.objects.create(schedule=schedule, slot=slot, outcome=ScheduledRun.Outcome.STARTED)
    except IntegrityError:
        return None  # this slot was dealt with already (its schedule was edited back onto it)

    window = max(timedelta(hours=settings.SCHEDULE_CATCH_UP_HOURS), ON_TIME)
    if now - slot > window:
        record.outcome, record.message = ScheduledRun.Outcome.SKIPPED, _skipped_words(slot, now, len(missed))
    else:
        _start(schedule, record)
        if len(missed) > 1 and record.outcome == ScheduledRun.Outcome.STARTED:
            record.message += (
                f" Started late, once: {len(missed)} times were missed while the dashboard was not running, "
                "and only the newest was still useful."
            )
    if record.outcome != ScheduledRun.Outcome.STARTED:
        record.message = f"{record.message} {_goes_on_words(following)}"
    record.save(update_fields=["outcome", "message", "run_request"])
    Schedule.objects.filter(pk=schedule.pk).update(
        last_run_at=slot, last_outcome=record.outcome, last_message=record.message
    )
    signals.scheduled_run_recorded.send(sender=ScheduledRun, outcome=record.outcome)
    logger.info("Schedule %s: slot %s %s", schedule.pk, slot.isoformat(), record.outcome)
    return Dealt(schedule.pk, slot, record.outcome, record.message)


def _start(schedule: Schedule, record: ScheduledRun) -> None:
    """Starts the run as Run again does (E4, the audit, the key's interactive share); a refusal is recorded in
    WebAdMIT's or the budget's own words."""
    identity = schedule.export.identity
    if not identity.enabled:
        record.outcome = ScheduledRun.Outcome.REFUSED
        record.message = "Not started: the identity is disabled, so nothing is asked of WebAdMIT for it."
        return
    if identity.paused:
        record.outcome = ScheduledRun.Outcome.REFUSED
        record.message = f"Not started: the identity is paused ({identity.error_message or 'by hand'})."
        return
    try:
        started = on_demand.start_scheduled_run(schedule.export, timing.describe(schedule))
    except WebAdmitError as error:
        record.outcome, record.message = ScheduledRun.Outcome.REFUSED, f"Not started: {error.message}"
        return
    record.run_request_id = started.request_pk
    if started.already_known:
        record.message = f"WebAdMIT was still making run {started.run.id} of this export, so that run counts."
    else:
        record.message = f"Started run {started.run.id}."


def _local_words(instant: datetime) -> str:
    return f"{instant.astimezone(timing.zone()):%a %-d %b %H:%M}"


def _skipped_words(slot: datetime, now: datetime, missed: int) -> str:
    hours = int((now - slot).total_seconds() // 3600)
    others = f" ({missed} times missed in all, none started)" if missed > 1 else ""
    return (
        f"Not started: its time, {_local_words(slot)}, passed {hours} hours ago while the dashboard was not "
        f"running{others}, more than the {settings.SCHEDULE_CATCH_UP_HOURS} hours SCHEDULE_CATCH_UP_HOURS allows."
    )


def _goes_on_words(following: datetime | None) -> str:
    if following is None:
        return "The schedule has no next time."
    return f"This time is not tried again; the schedule goes on at {_local_words(following)} ({settings.TIME_ZONE})."
