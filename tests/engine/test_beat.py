"""Beat while its broker is down: one line when the outage starts and one when it ends, not a traceback per task.

A real `celery beat` (the compose command) sends the product's schedule, at a quick pace, to a Redis of the test's
own, which the test stops and starts again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.services import own_redis

pytestmark = pytest.mark.worker

OUTAGE = "The broker is not answering"
RECOVERY = "The broker answers again"
SENT = "Sending due task"


def wait_until(done: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"beat did not {what} within {timeout:.0f} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


def test_beat_logs_one_line_when_the_broker_stops_and_one_when_it_answers_again_without_tracebacks(tmp_path):
    log = tmp_path / "beat.log"
    with own_redis() as redis, log.open("wb") as output:
        beat = subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "webadmit_dash", "beat", "--loglevel=INFO",
             f"--schedule={tmp_path / 'schedule'}"],
            cwd=settings.BASE_DIR,
            env={**os.environ, "CELERY_BROKER_URL": redis.url, "WEBADMIT_DISPATCH_EVERY": "1",
                 "NOTIFY_FAN_OUT_EVERY": "1", "PYTHONUNBUFFERED": "1", "TMPDIR": tempfile.gettempdir()},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_until(lambda: log.read_text().count(SENT) >= 2, 30, "send its first tasks", log)
            redis.stop()
            sent_before = log.read_text().count(SENT)
            # Two tasks a second, each failing: a dozen failed sends.
            wait_until(lambda: log.read_text().count(SENT) >= sent_before + 12, 60, "keep trying", log)
            redis.start()
            wait_until(lambda: RECOVERY in log.read_text(), 30, "notice the broker again", log)
            sent_after = log.read_text().count(SENT)
            wait_until(lambda: log.read_text().count(SENT) >= sent_after + 2, 30, "send again", log)
        finally:
            os.killpg(beat.pid, signal.SIGTERM)
            beat.wait(timeout=20)

    text = log.read_text()
    assert text.count(OUTAGE) == 1, text[-4000:]
    assert text.count(RECOVERY) == 1, text[-4000:]
    assert "Traceback" not in text, text[-4000:]
