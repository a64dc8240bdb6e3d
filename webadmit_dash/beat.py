"""Celery beat's scheduler, with one log line per broker outage instead of one traceback per scheduled task.

Beat sends half a dozen tasks every few seconds. While the broker (Redis) is down, Celery's own scheduler logs
each failed send with its whole traceback and stack (16 in 30 s), which buries whatever else the log says. Ours
logs the outage once, when the first send fails, and once more when a send succeeds again. An error that is not
about reaching the broker is still logged in full, every time, as Celery does.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


def is_broker_outage(error: BaseException) -> bool:
    """Whether a failed send means the broker could not be reached (kombu's OperationalError, or a socket error),
    looking through Celery's SchedulingError to what caused it."""
    seen = error
    while seen is not None:
        if isinstance(seen, OperationalError | ConnectionError | TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return False


class Scheduler(PersistentScheduler):
    """Celery's default scheduler (the schedule kept in a file), logging a broker outage once."""

    broker_down_since: float | None = None  # the monotonic time of the first failed send of this outage

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        logger.info("Sending due task %s (%s)", entry.name, entry.task)
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as error:
            if not is_broker_outage(error):
                logger.exception("Could not send the scheduled task %s", entry.name)
            elif self.broker_down_since is None:
                self.broker_down_since = time.monotonic()
                logger.error(
                    "The broker is not answering: scheduled tasks are not being sent (%s: %s). Beat keeps trying "
                    "and says so here when the broker answers again.",
                    entry.name,
                    _first_line(error),
                )
            return
        if self.broker_down_since is not None:
            lasted = time.monotonic() - self.broker_down_since
            self.broker_down_since = None
            logger.warning("The broker answers again after %.0f s: scheduled tasks are being sent.", lasted)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
