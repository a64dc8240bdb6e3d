"""The watchdog's Celery task: thin, as every task here. Beat sends it each minute (settings.CELERY_BEAT_SCHEDULE,
"watch-expected-files"); the work is `watchdog.check`, tested on a fake clock without Celery. Two checks at once
(a redelivered message, two beats) are harmless: a miss is unique per deadline and every stamp is conditional."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from webadmit_dash.schedules import watchdog


@shared_task(
    name="webadmit_dash.schedules.watch_tasks.check_expected_files",
    ignore_result=True,
    soft_time_limit=50,
    time_limit=60,
)
def check_expected_files() -> dict[str, int]:
    result = watchdog.check(timezone.now())
    return {"judged": result.judged, "missing": len(result.missing), "cleared": len(result.cleared)}
