"""What /readyz checks: the database, its migrations, the broker, the workers and beat, each on its own.

Each check says ok, failing (with a reason fit for a monitoring system: no address, password or exception text,
which can hold either), or not checked because what it depends on failed, so a 503 names the one thing to fix.
Every check is bounded in time; the workers' ping, the only slow one, is remembered for a few seconds.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from kombu import Connection, pidbox

from webadmit_dash.celery import app as celery_app
from webadmit_dash.core import mail
from webadmit_dash.core.models import EngineHeartbeat

# Seconds: how long a broker may take to answer, how long the workers are given to answer a ping, and how long
# their answer is reused (a load balancer asking every second must not ping every worker every second).
BROKER_TIMEOUT = 2
PING_TIMEOUT = 1.0
PING_REMEMBERED = 10.0
# Migrations once all applied stay applied while this process runs (a rollback is a deployment): checked again
# after this many seconds only, since loading the migration graph costs tens of milliseconds.
MIGRATIONS_REMEMBERED = 60.0
QUEUE = "celery"  # Celery's default queue, where every task of ours goes


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: not checked, because a check it depends on failed
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Readiness:
    checks: list[Check]
    # Mistakes that leave the site serving but lose something (mail written to files): said, never a 503.
    warnings: list[str] = field(default_factory=list)

    @property
    def failing(self) -> list[str]:
        return [check.name for check in self.checks if check.ok is False]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "ready" if self.ready else "unavailable",
            "failing": self.failing,
            "checks": {check.name: check.as_dict() for check in self.checks},
            "warnings": self.warnings,
        }


def readiness(now: datetime | None = None) -> Readiness:
    now = now or timezone.now()
    database = check_database()
    migrations = check_migrations() if database.ok else _not_checked("migrations", "database")
    beat = check_beat(now) if migrations.ok else _not_checked("beat", "migrations" if database.ok else "database")
    broker = check_broker()
    workers = check_workers() if broker.ok else _not_checked("workers", "broker")
    warnings = [warning for warning in [mail.production_warning()] if warning]
    return Readiness([database, migrations, broker, workers, beat], warnings)


def _not_checked(name: str, because: str) -> Check:
    return Check(name, None, f"not checked: the {because} check failed")


def _failure(name: str, what: str, error: BaseException) -> Check:
    # The exception's class says enough to start looking; its text can carry a host name or a password.
    return Check(name, False, f"{what} ({type(error).__name__})")


def check_database() -> Check:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        # A connection that failed mid-way is not reused by the next request.
        connection.close_if_unusable_or_obsolete()
        return _failure("database", "cannot query the database", error)
    return Check("database", True, f"{connection.vendor} answers")


_migrations_applied_at: float | None = None


def check_migrations() -> Check:
    global _migrations_applied_at
    if _migrations_applied_at is not None and time.monotonic() - _migrations_applied_at < MIGRATIONS_REMEMBERED:
        return Check("migrations", True, "all applied")
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        return _failure("migrations", "cannot read the applied migrations", error)
    if plan:
        _migrations_applied_at = None
        return Check("migrations", False, f"{len(plan)} not applied yet: run manage.py migrate")
    _migrations_applied_at = time.monotonic()
    return Check("migrations", True, "all applied")


def check_beat(now: datetime) -> Check:
    try:
        last = EngineHeartbeat.last_beat()
    except Exception as error:
        return _failure("beat", "cannot read the heartbeat", error)
    limit = settings.BEAT_LATE_AFTER
    if last is None:
        return Check("beat", False, "no heartbeat yet: is celery beat running (and a worker)?")
    age = (now - last).total_seconds()
    if age > limit:
        return Check("beat", False, f"last heartbeat {age:.0f} s ago (limit {limit} s): is celery beat running?")
    return Check("beat", True, f"last heartbeat {max(age, 0):.0f} s ago")


def broker_connection() -> Connection:
    """A connection of our own with short timeouts: Celery's shared one retries for minutes when the broker is down."""
    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}))
    options.update(socket_connect_timeout=BROKER_TIMEOUT, socket_timeout=BROKER_TIMEOUT, max_retries=1)
    url = settings.CELERY_BROKER_URL
    if url == "filesystem://":
        url = "filesystem://localhost//"  # the same thing, said fully: kombu warns about a missing host at every probe
    return Connection(url, connect_timeout=BROKER_TIMEOUT, transport_options=options)


def queue_depth() -> int:
    """Messages waiting in the task queue; raises when the broker cannot be reached (or its folders are gone)."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # The embedded broker is two folders: with either gone, nothing is delivered (kombu does not recreate them).
        for key in ("data_folder_in", "control_folder"):
            if not os.path.isdir(options[key]) or not os.access(options[key], os.R_OK | os.W_OK | os.X_OK):
                raise FileNotFoundError(key)
    with broker_connection() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT)
        channel: Any = connection.channel()  # a kombu virtual channel; its stubs omit queue_declare
        try:
            return int(channel.queue_declare(queue=QUEUE, passive=False).message_count)
        finally:
            channel.close()


def check_broker() -> Check:
    try:
        depth = queue_depth()
    except Exception as error:
        return _failure("broker", "cannot reach the broker", error)
    return Check("broker", True, f"{depth} task{'s' if depth != 1 else ''} waiting")


class _Remembered:
    """One answer kept for a few seconds, per process; concurrent askers wait for one ping, not each send one."""

    def __init__(self, seconds: float, compute: Callable[[], Check]) -> None:
        self.seconds = seconds
        self.compute = compute
        self.value: Check | None = None
        self.at = 0.0
        self.lock = threading.Lock()

    def get(self) -> Check:
        with self.lock:
            if self.value is None or time.monotonic() - self.at > self.seconds:
                self.value, self.at = self.compute(), time.monotonic()
            return self.value

    def forget(self) -> None:
        with self.lock:
            self.value = None


def _control_mailbox() -> pidbox.Mailbox:
    """Celery's control mailbox (where `celery inspect ping` talks), on our own connection: celery_app.control
    would publish through the app's shared producer pool, which retries for minutes when the broker is down."""
    conf = celery_app.conf
    return pidbox.Mailbox(
        conf.control_exchange,
        type="fanout",
        accept=["json"],
        serializer="json",
        queue_ttl=conf.control_queue_ttl,
        reply_queue_ttl=conf.control_queue_ttl,
        queue_expires=conf.control_queue_expires,
        reply_queue_expires=conf.control_queue_expires,
    )


def _ping_workers() -> Check:
    try:
        with broker_connection() as connection:
            # limit=1: the first answer is enough to say the workers answer, and it ends the wait at once.
            bound: Any = _control_mailbox()(connection)  # a bound Mailbox; the stubs call it a Node
            replies = bound.multi_call("ping", timeout=PING_TIMEOUT, limit=1)
    except Exception as error:
        return _failure("workers", "cannot ping the workers", error)
    if not replies:
        return Check("workers", False, f"no worker answered a ping within {PING_TIMEOUT:g} s")
    return Check("workers", True, "a worker answered")


_workers = _Remembered(PING_REMEMBERED, _ping_workers)


def check_workers() -> Check:
    return _workers.get()


def forget_remembered() -> None:
    """Drops the remembered answers (tests that stop and start things in one process)."""
    global _migrations_applied_at
    _migrations_applied_at = None
    _workers.forget()
