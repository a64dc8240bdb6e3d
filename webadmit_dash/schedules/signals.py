"""What the schedules app tells the layers above it (operations' metrics), without importing them.

`scheduled_run_recorded` is sent once per slot dealt with, by the dispatcher that claimed it (a slot is claimed by
one dispatcher only, so a receiver that counts never counts a slot twice): `outcome` is one of OUTCOMES.
"""

from __future__ import annotations

from django.dispatch import Signal

from webadmit_dash.schedules.models import ScheduledRun

OUTCOMES = tuple(ScheduledRun.Outcome.values)

scheduled_run_recorded = Signal()
