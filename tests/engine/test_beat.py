"""Beat while its broker is down: one line when the outage starts and one when it ends, not a traceback per task.

A real `celery beat` (the compose command) sends the product's schedule, at a quick pace, to a Redis of the test's
own, which the test stops and starts again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.processes import stop_process
from tests.support.services import own_redis
from tests.support.waiting import eventually

pytestmark = pytest.mark.worker

OUTAGE = "The broker is not answering"
RECOVERY = "The broker answers again"
SENT = "Sending due task"


def test_beat_logs_one_line_when_the_broker_stops_and_one_when_it_answers_again_without_tracebacks(tmp_path):
    log = tmp_path / "beat.log"

    def log_end() -> str:
        return log.read_text()[-4000:]

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
            eventually(lambda: log.read_text().count(SENT) >= 2, 30, "beat to send its first tasks", detail=log_end)
            redis.stop()
            sent_before = log.read_text().count(SENT)
            # Two tasks a second, each failing: a dozen failed sends.
            eventually(
                lambda: log.read_text().count(SENT) >= sent_before + 12, 60, "beat to keep trying", detail=log_end
            )
            redis.start()
            eventually(lambda: RECOVERY in log.read_text(), 30, "beat to notice the broker again", detail=log_end)
            sent_after = log.read_text().count(SENT)
            eventually(lambda: log.read_text().count(SENT) >= sent_after + 2, 30, "beat to send again", detail=log_end)
        finally:
            stop_process(beat, to_group=True)

    text = log.read_text()
    assert text.count(OUTAGE) == 1, text[-4000:]
    assert text.count(RECOVERY) == 1, text[-4000:]
    assert "Traceback" not in text, text[-4000:]
