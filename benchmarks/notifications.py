"""Notifications under load: 1,000 transitions fanned out to 500 subscribed users, immediately and as digests, and
one upstream change to a mail in an SMTP server with the demo's settings.

    .venv/bin/python -m benchmarks.notifications [--users 500] [--identities 100] [--transitions 1000]
                                                 [--e2e-runs 5] [--database-url postgres://...]

Everything is throwaway: a temporary DATA_DIR with a SQLite database (or a database created on --database-url's
server and dropped after), a real SMTP server on loopback (aiosmtpd), and for the end-to-end figure the simulator,
a real Celery worker with beat and the demo's cadences (fast 15 s, slow 30 s, dispatch every 5 s, fan-out every 5 s).
Users are granted identities round-robin (500 users over 100 identities: 5 per identity), so each transition is
owed to 5 users and each user gets 10 messages (or one digest of 10).

The figures:
1. the apply step for the transitions (the refreshes' own writes), with and without the outbox's partial index:
   the cost the outbox adds per refresh;
2. fan-out: transitions to events and deliveries (one transaction per batch of 500);
3. delivery to the local SMTP server: immediate (one message per delivery over one connection per claim), and the
   digests (one message per user);
4. upstream change -> mail in the SMTP server, through the real worker; target <= 30 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks._django import setup_throwaway_django
from benchmarks.dashboard import _throwaway_postgres

E2E_TARGET_S = 30.0
API_KEY = "0123456789abcdef0123456789abcdef"


def _smtp() -> Any:
    from tests.support.mail import SmtpServer

    return SmtpServer().start()


def _mail_settings(smtp: Any) -> None:
    from django.conf import settings

    for name, value in smtp.settings.items():
        setattr(settings, name, value)


def _world(identities: int, files_per_identity: int, users: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from webadmit_dash.core.models import Credential, Export, IdentityGrant, UserIdentity
    from webadmit_dash.engine import apply
    from webadmit_dash.notifications import fanout
    from webadmit_dash.webadmit import types
    from webadmit_dash.webadmit.statuses import FileStatus

    credential = Credential(name="Benchmark", base_url="https://api.webadmit.org")
    credential.set_api_key(API_KEY)
    credential.save()
    UserIdentity.objects.bulk_create(
        UserIdentity(credential=credential, webadmit_id=100_000 + n, association="SOPHAS", cycle="2026 - 2027")
        for n in range(identities)
    )
    ids = list(UserIdentity.objects.order_by("pk"))
    Export.objects.bulk_create(
        Export(identity=identity, webadmit_id=500_000 + n, name="Nightly Banner Export")
        for n, identity in enumerate(ids)
    )
    listings: dict[int, list[types.ExportFile]] = {}
    file_id = 1_000_000
    for n, identity in enumerate(ids):
        listing = []
        for _ in range(files_per_identity):
            file_id += 1
            href = f"/api/v1/exports/{500_000 + n}/export_files/{file_id}"
            listing.append(types.ExportFile(file_id, href, 500_000 + n, FileStatus.IN_PROGRESS, "In Progress"))
        listings[identity.pk] = listing
        apply.apply_listing(identity, listing, timezone.now() - timedelta(minutes=10))
    while fanout.fan_out().transitions:  # the first listing: history, not news (and the outbox empty to start)
        pass
    User.objects.bulk_create(
        User(username=f"user{n:03d}", email=f"user{n:03d}@example.edu", password="!") for n in range(users)
    )
    people = list(User.objects.order_by("pk"))
    IdentityGrant.objects.bulk_create(
        IdentityGrant(identity=ids[n % len(ids)], user=person) for n, person in enumerate(people)
    )
    return {"identities": ids, "listings": listings, "users": people}


def _finish_all(world: dict[str, Any]) -> float:
    """Every file of every identity goes Available, one apply per identity as its refresh would: seconds spent."""
    from django.utils import timezone

    from webadmit_dash.engine import apply
    from webadmit_dash.webadmit import types
    from webadmit_dash.webadmit.statuses import FileStatus

    started = time.perf_counter()
    for identity in world["identities"]:
        listing = [
            types.ExportFile(item.id, item.href, item.export_id, FileStatus.AVAILABLE, "Available")
            for item in world["listings"][identity.pk]
        ]
        apply.apply_listing(identity, listing, timezone.now())
        world["listings"][identity.pk] = listing
    return time.perf_counter() - started


def _reset_files(world: dict[str, Any]) -> None:
    """Back to In Progress (and the outbox drained), so the same transitions can be measured again."""
    from django.utils import timezone

    from webadmit_dash.core.models import StatusChange
    from webadmit_dash.engine import apply
    from webadmit_dash.webadmit import types
    from webadmit_dash.webadmit.statuses import FileStatus

    for identity in world["identities"]:
        listing = [
            types.ExportFile(item.id, item.href, item.export_id, FileStatus.IN_PROGRESS, "In Progress")
            for item in world["listings"][identity.pk]
        ]
        apply.apply_listing(identity, listing, timezone.now())
        world["listings"][identity.pk] = listing
    StatusChange.objects.filter(fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def _fan_out_all() -> dict[str, int]:
    from webadmit_dash.notifications import fanout

    totals = {"transitions": 0, "events": 0, "deliveries": 0}
    while True:
        result = fanout.fan_out()
        if not result.transitions:
            return totals
        totals["transitions"] += result.transitions
        totals["events"] += result.events
        totals["deliveries"] += result.deliveries


def _deliver_all(now: Any = None) -> int:
    from webadmit_dash.notifications import delivery

    sent = 0
    while True:
        result = delivery.deliver_due(now=now, budget_seconds=3600)
        sent += result.sent
        if not (result.sent or result.retrying or result.cancelled or result.failed):
            return sent


def load_figures(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from webadmit_dash.notifications.models import Delivery, Event, EventKind, Subscription

    smtp = _smtp()
    try:
        _mail_settings(smtp)
        per_identity = max(args.transitions // args.identities, 1)
        world = _world(args.identities, per_identity, args.users)
        transitions = per_identity * args.identities

        # 1. The apply step, with the outbox's index and without it (what the outbox adds to each refresh).
        with_index = []
        without_index = []
        for _ in range(3):
            with_index.append(_finish_all(world))
            _reset_files(world)
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX status_change_outbox_idx")
        for _ in range(3):
            without_index.append(_finish_all(world))
            _reset_files(world)
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE INDEX status_change_outbox_idx ON dashboard_statuschange (id) WHERE fanned_out_at IS NULL"
            )

        figures: dict[str, Any] = {
            "transitions": transitions,
            "apply_with": statistics.median(with_index),
            "apply_without": statistics.median(without_index),
        }
        subscriptions = Subscription.objects.bulk_create(
            Subscription(user=user, all_identities=True, events=[EventKind.AVAILABLE.value]) for user in world["users"]
        )

        # 2 and 3, immediate.
        _finish_all(world)
        figures["fan_out_immediate"], counts = _timed(_fan_out_all)
        figures["immediate_counts"] = counts
        before = len(smtp.received())
        figures["deliver_immediate"], sent = _timed(_deliver_all)
        figures["immediate_sent"] = sent
        assert len(smtp.received()) - before == sent == counts["deliveries"], (sent, counts)

        # 2 and 3, digest: the same transitions again, every subscription a daily digest.
        _reset_files(world)
        Event.objects.all().delete()
        Delivery.objects.all().delete()
        Subscription.objects.filter(pk__in=[s.pk for s in subscriptions]).update(delivery=Subscription.Delivery.DIGEST)
        _finish_all(world)
        figures["fan_out_digest"], counts = _timed(_fan_out_all)
        figures["digest_counts"] = counts
        before = len(smtp.received())
        tomorrow = timezone.now() + timedelta(days=1, minutes=1)
        figures["deliver_digest"], _ = _timed(lambda: _deliver_all(now=tomorrow))
        figures["digest_mails"] = len(smtp.received()) - before
        figures["digest_deliveries"] = Delivery.objects.filter(state="sent").count()
        return figures
    finally:
        smtp.stop()


def end_to_end(args: argparse.Namespace) -> list[float]:
    """Upstream change -> mail in the SMTP server, through the simulator, a real worker with beat and the demo's
    settings; one latency per run."""
    from django.contrib.auth.models import User

    from benchmarks.refresh import _credential
    from tests.support.worker import CeleryWorker
    from webadmit_dash.core.models import UserIdentity
    from webadmit_dash.engine import credentials
    from webadmit_dash.engine.refresh import refresh_identity
    from webadmit_dash.notifications import fanout
    from webadmit_dash.notifications.models import EventKind, Subscription
    from webadmit_dash.simulator.data import SimulatedWorld
    from webadmit_dash.simulator.server import SimulatorServer
    from webadmit_dash.webadmit.statuses import UNFINISHED

    # The load figures' identities point at a WebAdMIT this machine cannot reach: the worker must not spend its
    # threads on them.
    UserIdentity.objects.update(enabled=False)
    smtp = _smtp()
    world = SimulatedWorld(seed=3, identities=3, files_per_identity=12, pace=86_400, new_run_every=None)
    latencies: list[float] = []
    try:
        with SimulatorServer(world, [API_KEY]) as server:
            credential = _credential("Demo (simulator)", server.base_url)
            credentials.import_identities(credential)
            identities = list(UserIdentity.objects.filter(credential=credential))
            for identity in identities:
                refresh_identity(identity.pk)
            while fanout.fan_out().transitions:
                pass
            admin = User.objects.create_superuser("demo-admin", "admin@localhost", "unused")
            Subscription.objects.create(user=admin, all_identities=True, events=list(EventKind.values))
            # The demo's settings (runstack's are the defaults: running files every 15 s, settled ones every 30 s
            # for a handful of identities, dispatch and fan-out every 5 s).
            demo_defaults = (
                "NOTIFY_FAN_OUT_EVERY",
                "WEBADMIT_DISPATCH_EVERY",
                "WEBADMIT_FAST_INTERVAL",
                "WEBADMIT_SLOW_FLOOR",
            )
            for name in demo_defaults:
                os.environ.pop(name, None)
            env = dict(smtp.environment)
            worker = CeleryWorker(concurrency=8, beat=True, env=env, name="e2e")
            try:
                worker.start(timeout=60)
                time.sleep(20)  # settle into the demo's cadence before measuring
                running = [
                    state
                    for identity in identities
                    for state in world.files(identity.webadmit_id)
                    if state.status in {status.value for status in UNFINISHED}
                ]
                for state in running[: args.e2e_runs]:
                    before = len(smtp.received())
                    started = time.monotonic()
                    world.force_status(state.id, "Available")
                    deadline = started + 120
                    while time.monotonic() < deadline:
                        if any(f"q={state.id}&" in str(m.get_body(preferencelist=("plain",)).get_content())
                               for m in smtp.received()[before:]):  # fmt: skip
                            latencies.append(time.monotonic() - started)
                            break
                        time.sleep(0.1)
                    else:
                        latencies.append(float("inf"))
                        _explain_missing(state.id)
            finally:
                worker.close()
    finally:
        smtp.stop()
    return latencies


def _explain_missing(file_id: int) -> None:
    from webadmit_dash.core.models import ExportFile, StatusChange
    from webadmit_dash.notifications.models import Delivery, Event

    export_file = ExportFile.objects.filter(webadmit_id=file_id).select_related("identity").first()
    changes = list(StatusChange.objects.filter(export_file=export_file).values_list("new_status", "fanned_out_at"))
    events = list(Event.objects.filter(file_webadmit_id=file_id).values_list("pk", "kind"))
    deliveries = list(Delivery.objects.filter(event__file_webadmit_id=file_id).values_list("state", "last_error"))
    identity = export_file.identity if export_file else None
    print(
        f"benchmark: no mail for file {file_id}: stored as {export_file and export_file.status}, history {changes}, "
        f"events {events}, deliveries {deliveries}, identity last success "
        f"{identity and identity.last_success_at}, next {identity and identity.next_refresh_at}",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--identities", type=int, default=100)
    parser.add_argument("--transitions", type=int, default=1000)
    parser.add_argument("--e2e-runs", type=int, default=5, help="upstream changes timed end to end (0: none)")
    parser.add_argument("--database-url", help="a PostgreSQL server to create a throwaway database on")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="webadmit-bench-") as folder:
        drop: Callable[[], None] | None = None
        database_url = None
        if args.database_url:
            database_url, drop = _throwaway_postgres(args.database_url)
        setup_throwaway_django(Path(folder), database_url=database_url)
        try:
            from django.core.management import call_command

            call_command("migrate", interactive=False, verbosity=0)
            figures = load_figures(args)
            latencies = end_to_end(args) if args.e2e_runs else []
        finally:
            if drop is not None:
                drop()
    report(args, figures, latencies)
    return 0


def report(args: argparse.Namespace, figures: dict[str, Any], latencies: list[float]) -> None:
    from django.db import connection

    vendor = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(connection.vendor, connection.vendor)
    n = figures["transitions"]
    immediate, digest = figures["immediate_counts"], figures["digest_counts"]
    print(
        f"\nNotifications benchmark: {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end), "
        f"{vendor}, Python {sys.version.split()[0]}, {args.users} users over {args.identities} identities\n"
    )
    per_refresh = (figures["apply_with"] - figures["apply_without"]) / args.identities * 1000
    rows = [
        (
            f"apply step, {n:,} transitions in {args.identities} refreshes (median of 3)",
            f"{figures['apply_with'] * 1000:.0f} ms with the outbox index, {figures['apply_without'] * 1000:.0f} ms "
            f"without: {per_refresh:+.2f} ms per refresh",
            "-",
        ),
        (
            f"fan-out, immediate: {n:,} transitions -> {immediate['events']:,} events -> "
            f"{immediate['deliveries']:,} deliveries",
            f"{figures['fan_out_immediate']:.2f} s ({figures['fan_out_immediate'] / n * 1000:.2f} ms per transition)",
            "-",
        ),
        (
            f"delivery, immediate: {figures['immediate_sent']:,} mails to the local SMTP server",
            f"{figures['deliver_immediate']:.2f} s ({figures['immediate_sent'] / figures['deliver_immediate']:.0f} "
            "mails/s)",
            "-",
        ),
        (
            f"fan-out, digest: {n:,} transitions -> {digest['deliveries']:,} digest deliveries",
            f"{figures['fan_out_digest']:.2f} s",
            "-",
        ),
        (
            f"delivery, digest: {figures['digest_deliveries']:,} deliveries in {figures['digest_mails']} mails",
            f"{figures['deliver_digest']:.2f} s",
            "-",
        ),
    ]
    if latencies:
        shown = ", ".join(f"{value:.1f}" for value in latencies)
        rows.append(
            (
                f"upstream change -> mail in the SMTP server, demo settings ({len(latencies)} runs)",
                f"max {max(latencies):.1f} s, median {statistics.median(latencies):.1f} s ({shown})",
                f"<= {E2E_TARGET_S:.0f} s",
            )
        )
    for label, value, target in rows:
        print(f"  {label}\n      {value:<90} target {target}")


if __name__ == "__main__":
    raise SystemExit(main())
