"""Prometheus metrics: counters kept by every process, and the state of the whole installation read at scrape time.

Two kinds, chosen by where the truth lives:

- Events (WebAdMIT calls by endpoint and status, refreshes by outcome and their duration, downloads by outcome,
  notification delivery attempts by channel and outcome, WebAdMIT's callbacks by outcome, bytes collected, file
  deliveries by destination and outcome) happen in gunicorn workers and Celery workers alike, so each process counts
  its own in prometheus-client's multiprocess mode: values live in small memory-mapped files in METRICS_DIR
  (PROMETHEUS_MULTIPROC_DIR), which /metrics adds up. Files of exited processes keep their counts, so totals never go
  backwards when a worker restarts. A process is named by host and pid, so containers sharing the folder never
  write to the same file.
- State (identities by freshness, files by status, each key's rate budget, the queue's depth, the age of beat's
  heartbeat, the notifications still owed and how long the oldest has waited, collected files by state and the
  oldest file not yet delivered) is already in the database and the
  broker: it is read when Prometheus scrapes, so it is right whichever process answers and costs nothing between
  scrapes.

The hooks are here and nowhere else: the WebAdMIT client's call observer, Celery's task signals around the refresh
task, the download audit row's post_save, the notifications app's `delivery_recorded` signal, the schedules app's
`callback_answered` signal, and collection's `file_collected` and `delivery_attempted` signals.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any, get_args

from django.conf import settings
from django.db.models import Count
from django.db.models.signals import post_save
from django.http import HttpRequest
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from webadmit_dash.collection import signals as collection_signals
from webadmit_dash.collection.models import CollectedFile, FileDelivery
from webadmit_dash.core.models import Credential, DownloadEvent, EngineHeartbeat, ExportFile, Kind, UserIdentity
from webadmit_dash.core.problems import DownloadOutcome
from webadmit_dash.core.states import FileState
from webadmit_dash.core.states import expression as file_state
from webadmit_dash.engine.terms import Outcome
from webadmit_dash.notifications import signals as notification_signals
from webadmit_dash.notifications.models import Delivery
from webadmit_dash.ops import health
from webadmit_dash.schedules import signals as schedule_signals
from webadmit_dash.schedules.models import Missing, ScheduledRun
from webadmit_dash.web import common, freshness
from webadmit_dash.webadmit import client
from webadmit_dash.webadmit.statuses import FileStatus

logger = logging.getLogger(__name__)

PREFIX = "webadmit_dash"
REFRESH_TASK = "webadmit_dash.engine.tasks.run_refresh"
IDENTITY_STATES: tuple[freshness.SourceState, ...] = get_args(freshness.SourceState)

# Chosen before the first metric is made: values go to per-process files that /metrics merges.
_HOST = socket.gethostname()
# The first process of a host to count makes the folder (settings only name it).
settings.METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.METRICS_DIR)
values.ValueClass = values.MultiProcessValue(lambda: f"{_HOST}-{os.getpid()}")

WEBADMIT_CALLS = Counter(
    f"{PREFIX}_webadmit_calls",
    "Calls to WebAdMIT by endpoint (the SPEC's E1-E7; P1-P6 for PDF Manager's) and HTTP status (no_response: none "
    "came).",
    ["endpoint", "status"],
)
REFRESHES = Counter(
    f"{PREFIX}_refreshes", "Refreshes of one identity by outcome (crashed: the task raised).", ["outcome"]
)
REFRESH_SECONDS = Histogram(
    f"{PREFIX}_refresh_duration_seconds",
    "How long one refresh of one identity took, from the task's start to its end.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
DOWNLOADS = Counter(f"{PREFIX}_downloads", "Download clicks (and API downloads) by outcome.", ["outcome"])
NOTIFICATION_DELIVERIES = Counter(
    f"{PREFIX}_notification_deliveries",
    "Attempts to deliver a notification by channel (email, webhook) and outcome (retrying: a transient error, "
    "tried again later; failed: for good).",
    ["channel", "outcome"],
)
SCHEDULED_RUNS = Counter(
    f"{PREFIX}_scheduled_runs", "Schedules' slots dealt with, by outcome (started, refused, skipped).", ["outcome"]
)
CALLBACKS = Counter(
    f"{PREFIX}_callbacks",
    "Calls from WebAdMIT (E4's callback) by outcome: accepted (a known token), unknown_token (404), rate_limited "
    "(429), bad_request (400).",
    ["outcome"],
)

COLLECTED_BYTES = Counter(f"{PREFIX}_collected_bytes", "Bytes of export files collected into the archive.")
FILE_DELIVERIES = Counter(
    f"{PREFIX}_deliveries",
    "Attempts to deliver a collected file by destination and outcome (delivered; retrying: a transient error, "
    "tried again later; failed: for good).",
    ["destination", "outcome"],
)
DELIVERY_OUTCOMES = ("delivered", "retrying", "failed")

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Connects the hooks (once per process): the client's calls, the refresh task, the download audit, the
    notification deliveries, the schedules' slots, the callbacks, collection and file deliveries."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
    from celery.signals import task_postrun, task_prerun

    client.observe_calls(_count_call)
    task_prerun.connect(_refresh_started, weak=False, dispatch_uid="ops.refresh_started")
    task_postrun.connect(_refresh_ended, weak=False, dispatch_uid="ops.refresh_ended")
    post_save.connect(_count_download, sender=DownloadEvent, weak=False, dispatch_uid="ops.count_download")
    notification_signals.delivery_recorded.connect(
        _count_delivery, sender=Delivery, weak=False, dispatch_uid="ops.count_delivery"
    )
    schedule_signals.scheduled_run_recorded.connect(
        _count_scheduled_run, sender=ScheduledRun, weak=False, dispatch_uid="ops.count_scheduled_run"
    )
    schedule_signals.callback_answered.connect(_count_callback, weak=False, dispatch_uid="ops.count_callback")
    collection_signals.file_collected.connect(_count_collected, weak=False, dispatch_uid="ops.count_collected")
    collection_signals.delivery_attempted.connect(
        _count_file_delivery, weak=False, dispatch_uid="ops.count_file_delivery"
    )
    # Outcomes show as 0 before the first one happens, so rate() and alerts work from the first scrape.
    for outcome in [*Outcome, "crashed"]:
        REFRESHES.labels(outcome=str(outcome))
    for download_outcome in DownloadOutcome:
        DOWNLOADS.labels(outcome=download_outcome.value)
    for channel in Delivery.Channel.values:
        for delivery_outcome in notification_signals.OUTCOMES:
            NOTIFICATION_DELIVERIES.labels(channel=channel, outcome=delivery_outcome)
    for scheduled_outcome in schedule_signals.RUN_OUTCOMES:
        SCHEDULED_RUNS.labels(outcome=scheduled_outcome)
    for callback_outcome in schedule_signals.CALLBACK_OUTCOMES:
        CALLBACKS.labels(outcome=callback_outcome)


def _count_call(endpoint: str, status: str, seconds: float) -> None:
    WEBADMIT_CALLS.labels(endpoint=endpoint, status=status).inc()


_refresh_starts: dict[str, float] = {}


def _refresh_started(sender: Any = None, task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    if task is not None and task.name == REFRESH_TASK:
        _refresh_starts[task_id] = time.monotonic()


def _refresh_ended(
    sender: Any = None, task_id: str = "", task: Any = None, retval: Any = None, state: str = "", **kwargs: Any
) -> None:
    if task is None or task.name != REFRESH_TASK:
        return
    started = _refresh_starts.pop(task_id, None)
    # The task returns the refresh's outcome (refreshed, failed, skipped); anything else means it raised.
    outcome = retval if state == "SUCCESS" and retval in set(Outcome) else "crashed"
    REFRESHES.labels(outcome=str(outcome)).inc()
    if started is not None:
        REFRESH_SECONDS.observe(time.monotonic() - started)


def _count_download(sender: Any, instance: DownloadEvent, created: bool, **kwargs: Any) -> None:
    if created:
        DOWNLOADS.labels(outcome=instance.outcome).inc()


def _count_delivery(sender: Any, channel: str, outcome: str, **kwargs: Any) -> None:
    NOTIFICATION_DELIVERIES.labels(channel=str(channel), outcome=str(outcome)).inc()


def _count_scheduled_run(sender: Any, outcome: str, **kwargs: Any) -> None:
    SCHEDULED_RUNS.labels(outcome=str(outcome)).inc()


def _count_callback(sender: Any, outcome: str, **kwargs: Any) -> None:
    CALLBACKS.labels(outcome=str(outcome)).inc()


def _count_collected(sender: Any, size: int, **kwargs: Any) -> None:
    COLLECTED_BYTES.inc(max(int(size), 0))


def _count_file_delivery(sender: Any, destination: str, outcome: str, **kwargs: Any) -> None:
    # Destinations are few and named by an administrator: a label each stays a small set.
    FILE_DELIVERIES.labels(destination=str(destination), outcome=str(outcome)).inc()


# --- Scraping ------------------------------------------------------------------------------------------------------


class StateCollector(Collector):
    """The installation's state, read from the database and the broker at each scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from self._identities(now)
        yield from self._files()
        yield from self._budgets()
        yield from self._engine(now)
        yield from self._notifications(now)
        yield from self._watchdog()
        yield from self._collection(now)

    def _identities(self, now: Any) -> Iterator[Metric]:
        identities = common.identity_rows(UserIdentity.objects.filter(enabled=True))
        # The same words as the pages' freshness strip (web.freshness), so a dashboard and a graph agree.
        states = Tally(source.state for source in freshness.sources(identities, now, None))
        family = GaugeMetricFamily(
            f"{PREFIX}_identities", "Enabled identities by freshness (ok, late, error, paused, new).", labels=["state"]
        )
        for state in IDENTITY_STATES:
            family.add_metric([state], states[state])
        yield family

    def _files(self) -> Iterator[Metric]:
        # By status and state (core.states), so that sum(webadmit_dash_files{status="failed",state="needs_attention"})
        # is the number the tab's title and the Failed chip say; and by kind (core's Kind: export files and PDF
        # Manager batches), as the page's kind filter splits them. Every triple is reported, zeros too (64 series),
        # so a graph's line never vanishes when its count falls to nothing.
        counts = {
            (kind, status, state): n
            for kind, status, state, n in ExportFile.objects.filter(gone_at__isnull=True)
            .order_by()
            .annotate(state=file_state())
            .values_list("kind", "status", "state")
            .annotate(n=Count("pk"))
            .values_list("kind", "status", "state", "n")
        }
        family = GaugeMetricFamily(
            f"{PREFIX}_files",
            "Export files and PDF Manager batches WebAdMIT still lists, by kind (export, pdf_batch), status and state "
            "(needs_attention, superseded, acknowledged, done).",
            labels=["kind", "status", "state"],
        )
        for kind in Kind:
            for status in FileStatus:
                for state in FileState:
                    key = (kind.value, status.value, state.value)
                    family.add_metric(list(key), counts.get(key, 0))
        yield family

    def _budgets(self) -> Iterator[Metric]:
        remaining = GaugeMetricFamily(
            f"{PREFIX}_rate_budget_remaining",
            "Calls left in a credential's hourly budget, as WebAdMIT last said (X-RateLimit-Remaining).",
            labels=["credential"],
        )
        limit = GaugeMetricFamily(
            f"{PREFIX}_rate_budget_limit", "A credential's hourly call budget.", labels=["credential"]
        )
        stretch = GaugeMetricFamily(
            f"{PREFIX}_cadence_factor",
            "How much the scheduler stretches a credential's cadences to stay in budget (1 = not at all).",
            labels=["credential"],
        )
        rows = Credential.objects.values_list("name", "rate_limit_per_hour", "rate_limit_remaining", "cadence_factor")
        for name, per_hour, left, factor in rows:
            limit.add_metric([name], per_hour)
            stretch.add_metric([name], factor)
            if left is not None:
                remaining.add_metric([name], left)
        yield from (remaining, limit, stretch)

    def _engine(self, now: Any) -> Iterator[Metric]:
        beat = EngineHeartbeat.last_beat()
        if beat is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_beat_heartbeat_age_seconds",
                "Seconds since the beat-driven dispatcher last ran.",
                value=max((now - beat).total_seconds(), 0.0),
            )
        queued = UserIdentity.objects.filter(refresh_queued_at__isnull=False).count()
        yield GaugeMetricFamily(
            f"{PREFIX}_refreshes_queued", "Identities whose refresh is queued and not started yet.", value=queued
        )
        try:
            depth = health.queue_depth()
        except Exception as error:
            logger.warning("Queue depth unavailable: the broker cannot be reached (%s)", type(error).__name__)
            return
        family = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Tasks waiting in the broker's queue.", labels=["queue"])
        family.add_metric([health.QUEUE], depth)
        yield family

    def _notifications(self, now: Any) -> Iterator[Metric]:
        # Pending deliveries are the few rows of a partial index (state = pending), so this stays cheap however many
        # have been sent. The oldest immediate one's age grows while SMTP or a webhook keeps failing (its retries
        # back off) or while nothing sends; digests wait for their time of day by design, so they are left out.
        pending = Delivery.objects.filter(state=Delivery.State.PENDING)
        owed = dict(pending.order_by().values_list("channel").annotate(n=Count("pk")).values_list("channel", "n"))
        family = GaugeMetricFamily(
            f"{PREFIX}_notifications_pending",
            "Notification deliveries not yet sent (new, awaiting a retry, or waiting for a digest), by channel.",
            labels=["channel"],
        )
        for channel in Delivery.Channel.values:
            family.add_metric([channel], owed.get(channel, 0))
        yield family
        oldest = pending.filter(digest=False).order_by("created_at").values_list("created_at", flat=True).first()
        yield GaugeMetricFamily(
            f"{PREFIX}_notifications_oldest_pending_seconds",
            "How long the oldest immediate notification not yet delivered has been owed (0: none is).",
            value=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        )

    def _watchdog(self) -> Iterator[Metric]:
        # Open misses are the few rows of a partial index (arrived_at is null): cheap however long the history.
        open_misses = Missing.objects.filter(arrived_at__isnull=True, expectation__enabled=True).count()
        yield GaugeMetricFamily(
            f"{PREFIX}_missing_files",
            "Expected files whose deadline passed with no good run and that have not arrived since (the watchdog's "
            "open misses).",
            value=open_misses,
        )

    def _collection(self, now: Any) -> Iterator[Metric]:
        counts = dict(CollectedFile.objects.order_by().values_list("state").annotate(n=Count("pk")))
        family = GaugeMetricFamily(
            f"{PREFIX}_collected_files",
            "Files collection knows of, by state (waiting to be collected, collected, failed, pruned).",
            labels=["state"],
        )
        for state in CollectedFile.State.values:
            family.add_metric([state], counts.get(state, 0))
        yield family
        # Both read from the (state, next_attempt_at) indexes' few rows: what waits is small however much was done.
        # A file counts from when it became ready; a delivery from when it was owed (a Deliver again: from then).
        waiting = (
            CollectedFile.objects.filter(state=CollectedFile.State.WAITING)
            .order_by("finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        pending = (
            FileDelivery.objects.filter(state=FileDelivery.State.PENDING)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        oldest = min((moment for moment in (waiting, pending) if moment is not None), default=None)
        yield GaugeMetricFamily(
            f"{PREFIX}_oldest_undelivered_seconds",
            "How long the oldest file still waiting to be collected, or delivery still pending, has waited (0: none).",
            value=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        )


def exposition() -> bytes:
    """The Prometheus text of every process's counters and the installation's state."""
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=str(settings.METRICS_DIR))
    registry.register(StateCollector())
    return generate_latest(registry)


def scrape_allowed(request: HttpRequest) -> bool:
    """The bearer token from METRICS_TOKEN, or an address in METRICS_ALLOWED_IPS; nobody when neither is set."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_IPS)
