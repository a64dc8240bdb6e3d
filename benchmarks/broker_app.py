"""The broker stress run's own Celery app: the product's settings, and one task that records its id.

Its workers and producers are started by benchmarks/broker.py, which gives them a throwaway DATA_DIR and names the
transport in BROKER_STRESS_TRANSPORT: `atomic` (the product's embedded broker) or `old` (kombu's own filesystem
transport, on the same folders and options). A producer is `python -m benchmarks.broker_app PREFIX COUNT RATE`
(tasks a second; 0 for as fast as it can).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webadmit_dash.settings")

app = Celery("broker_stress")
app.config_from_object("django.conf:settings", namespace="CELERY")
if os.environ.get("BROKER_STRESS_TRANSPORT") == "old":
    app.conf.broker_transport = "filesystem"
if os.environ.get("BROKER_STRESS_POLLING_INTERVAL"):
    # More looks at the queue folder a second: more chances to catch a message that is still being written.
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "polling_interval": float(os.environ["BROKER_STRESS_POLLING_INTERVAL"]),
    }


def received_folder() -> Path:
    return Path(os.environ["DATA_DIR"]) / "received"


@app.task(bind=True, name="broker_stress.record")
def record(self: Task[[], None]) -> None:
    # One file per worker process; a single O_APPEND write of one short line is never interleaved with another's.
    fd = os.open(received_folder() / f"{os.getpid()}.ids", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"{self.request.id}\n".encode())
    finally:
        os.close(fd)


@worker_ready.connect
def _mark_ready(sender: Any, **kwargs: Any) -> None:
    # A file to wait for: plainer than finding this start's " ready." line in a log that restarts append to.
    (received_folder().parent / "ready" / sender.hostname).touch()


def produce(prefix: str, count: int, rate: float = 0) -> None:
    """Publishes `count` tasks, as fast as it can or at `rate` a second."""
    started = time.monotonic()
    for number in range(count):
        if rate:
            time.sleep(max(0.0, started + number / rate - time.monotonic()))
        record.apply_async(task_id=f"{prefix}-{number}")


if __name__ == "__main__":
    produce(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
