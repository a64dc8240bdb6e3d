"""How fast the Recent Files page and its poll answer with 100,000 files across 500 identities.

    .venv/bin/python -m benchmarks.dashboard [--files 100000] [--identities 500] [--runs 40]

Builds a throwaway SQLite database in a temporary DATA_DIR (migrate, then bulk_create), or, with
--database-url postgres://user@host/postgres, a throwaway PostgreSQL database it creates and drops. The URL's
query is passed to Django as OPTIONS, as DATABASE_URL's is: add ?server_side_binding=true to measure with
prepared statements, which spare PostgreSQL re-planning the same few queries on every page view and poll. Requests go
through Django's whole stack (middleware, sessions, templates) in this process, so "server time" is what the web
server spends, without the network. Query counts are taken on separate requests, so counting does not slow the
timed ones.

Targets: first page <= 30 ms median, with a query count that does not grow with the rows; unchanged poll
<= 3 ms median and <= 3 queries (the session and the user through Django's own sign-in, then the version).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from benchmarks._django import setup_throwaway_django
from benchmarks._page import poll_path

if TYPE_CHECKING:  # Django is set up at run time, by the benchmark itself
    from django.contrib.auth.models import User
    from django.test import Client

FIRST_PAGE_TARGET_MS = 30.0
POLL_TARGET_MS = 3.0
POLL_QUERY_TARGET = 3
HOST = "127.0.0.1"


def _throwaway_postgres(url: str) -> tuple[str, Callable[[], None]]:
    """Creates a uniquely named database next to the one `url` names; returns its URL and a drop function."""
    import psycopg

    name = f"webadmit_bench_{os.getpid()}"
    parts = urlsplit(url)
    server = urlunsplit(parts._replace(query=""))  # the query holds Django OPTIONS, not libpq parameters
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


STATUS_MIX = [
    ("available", 70),
    ("success_with_errors", 8),
    ("empty_list", 9),
    ("failed", 5),
    ("initializing", 1),
    ("queued", 3),
    ("in_progress", 4),
]


def _build(identities: int, files: int, seed: int = 42) -> dict[str, User]:
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from webadmit_dash.core.models import (
        ChangeCounter,
        Credential,
        Export,
        ExportFile,
        IdentityGrant,
        UserIdentity,
    )
    from webadmit_dash.engine import schedule

    rng = random.Random(seed)
    call_command("migrate", interactive=False, verbosity=0)
    now = timezone.now()
    credential = Credential(name="Benchmark", base_url="https://api.webadmit.org")
    credential.set_api_key("0123456789abcdef0123456789abcdef")
    credential.save()
    cases = ["SOPHAS", "PharmCAS", "ArchCAS", "CASPA", "PTCAS", "UniCAS"]
    UserIdentity.objects.bulk_create(
        UserIdentity(
            credential=credential,
            webadmit_id=100_000 + n,
            type="Admissions User",
            association=cases[n % len(cases)],
            organization=f"Program {n:03d}",
            cycle=("2025 - 2026", "2026 - 2027")[n % 2],
            last_success_at=now - timedelta(seconds=rng.randint(5, 200)),
        )
        for n in range(identities)
    )
    identity_ids = list(UserIdentity.objects.order_by("pk").values_list("pk", flat=True))
    names = ["Nightly Banner Export", "Weekly Interview Roster", "Daily Decision Letters", "Prerequisite Audit"]
    Export.objects.bulk_create(
        Export(identity_id=pk, webadmit_id=500_000 + i * 10 + k, name=names[k], format="Comma-Separated Values")
        for i, pk in enumerate(identity_ids)
        for k in range(len(names))
    )
    exports = {(e.identity_id, e.webadmit_id): e.pk for e in Export.objects.only("pk", "identity_id", "webadmit_id")}
    statuses = [status for status, weight in STATUS_MIX for _ in range(weight)]
    batch: list[ExportFile] = []
    for n in range(files):
        i = n % identities
        k = rng.randrange(len(names))
        status = rng.choice(statuses)
        seen = now - timedelta(seconds=rng.randint(0, 30 * 86400))
        export_id = 500_000 + i * 10 + k
        batch.append(
            ExportFile(
                identity_id=identity_ids[i],
                webadmit_id=1_000_000 + n,
                export_webadmit_id=export_id,
                export_id=exports[(identity_ids[i], export_id)],
                href=f"/api/v1/exports/{export_id}/export_files/{1_000_000 + n}",
                status=status,
                raw_status=status.replace("_", " ").title(),
                first_seen_at=seen,
                status_changed_at=seen,
                change_seq=n + 1,
            )
        )
        if len(batch) == 5000:
            ExportFile.objects.bulk_create(batch)
            batch = []
    ExportFile.objects.bulk_create(batch)
    _settle_lifecycle(identity_ids, rng)
    ChangeCounter.objects.update_or_create(pk=1, defaults={"value": files})
    for i, pk in enumerate(identity_ids):
        UserIdentity.objects.filter(pk=pk).update(change_seq=files - (identities - 1 - i))
    schedule.record_heartbeat(now)
    if connection.vendor == "postgresql":
        # What autovacuum does within a minute of a bulk load; SQLite gets no statistics, as under Django.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    admin = User.objects.create_superuser("admin", "", "unused")
    staff = User.objects.create_user("staff", "", "unused")
    group = Group.objects.create(name="Admissions")
    staff.groups.add(group)
    IdentityGrant.objects.bulk_create(IdentityGrant(identity_id=pk, group=group) for pk in identity_ids[:12])
    return {"admin": admin, "staff": staff}


def _settle_lifecycle(identity_ids: list[int], rng: random.Random) -> None:
    """The lifecycle as the apply step would have left it: every failed, empty or unfinished run with a later run of
    its export that ended well superseded (about half the failures, at this mix), and a tenth of the failures still
    standing acknowledged, so the page sorts and counts with the superseded rule in force."""
    from django.utils import timezone

    from webadmit_dash.core.models import ExportFile
    from webadmit_dash.engine import apply

    for pk in identity_ids:
        exports = set(ExportFile.objects.filter(identity_id=pk).values_list("export_webadmit_id", flat=True))
        apply.supersede(pk, exports, seq=0)
    standing = ExportFile.objects.filter(status="failed", superseded_by__isnull=True).values_list("pk", flat=True)
    acknowledged = [file_pk for file_pk in standing if rng.random() < 0.1]
    ExportFile.objects.filter(pk__in=acknowledged).update(acknowledged_at=timezone.now())


def _client(user: User) -> Client:
    from django.test import Client

    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


def _time(fetch: Callable[[], object], runs: int) -> list[float]:
    for _ in range(3):
        fetch()  # warm caches (templates, connections) before timing
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fetch()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _queries(fetch: Callable[[], Any]) -> tuple[int, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = fetch()
    return len(captured), response


def _poll_url(html: str) -> str:
    path = poll_path(html)
    assert path, "the page has no poller"
    return path


class _Poller:
    """Polls as the page does: with the URL the page gave it, then with the one each answer with changes gives.

    Once a minute a poll re-renders even when nothing changed (so "refreshed N min ago" stays true); the
    benchmark counts those separately and keeps the 204s for the figures.
    """

    def __init__(self, client: Client, headers: dict[str, Any], page_path: str = "/") -> None:
        self.client, self.headers = client, headers
        self.url = _poll_url(client.get(page_path).content.decode())
        self.renders = 0

    def poll(self) -> Any:
        response = self.client.get(self.url, **self.headers)
        if response.status_code == 200:
            self.renders += 1
            self.url = _poll_url(response.content.decode())
        return response

    def sample(self, runs: int) -> list[float]:
        """Server time of `runs` unchanged polls (204s only)."""
        for _ in range(3):
            self.poll()
        samples: list[float] = []
        while len(samples) < runs:
            started = time.perf_counter()
            response = self.poll()
            if response.status_code == 204:
                samples.append((time.perf_counter() - started) * 1000)
        return samples


def _row(label: str, samples: list[float], queries: int, note: str = "") -> str:
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)
    return f"  {label:<44} {median:7.1f} ms {p95:7.1f} ms {queries:5d}   {note}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--identities", type=int, default=500)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--database-url", help="a PostgreSQL server to create a throwaway database on")
    parser.add_argument(
        "--query",
        default="",
        help="the page's query for the first pages and polls, e.g. 'sort=-finished&when=7d' (an order and a date "
        "range in force); a commit that does not know a parameter drops it, so the same command measures a base",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="webadmit-bench-") as data_dir:
        drop: Callable[[], None] | None = None
        database_url = None
        if args.database_url:
            database_url, drop = _throwaway_postgres(args.database_url)
        setup_throwaway_django(Path(data_dir), database_url=database_url)
        try:
            return _run(args)
        finally:
            if drop is not None:
                drop()


def _run(args: argparse.Namespace) -> int:
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection

    from webadmit_dash.core.models import ChangeCounter, ExportFile, UserIdentity

    vendor = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(connection.vendor, connection.vendor)
    print(f"webadmit-dash dashboard benchmark on {vendor}, Python {sys.version.split()[0]}")

    # Query counts at two sizes: the first page must cost the same number of queries for 1% of the rows.
    small = max(args.files // 100, 1)
    started = time.perf_counter()
    users = _build(args.identities, small)
    admin = _client(users["admin"])
    page_path = f"/?{args.query}" if args.query else "/"
    admin.get(page_path)  # warm up, as for every count below
    small_queries, _ = _queries(lambda: admin.get(page_path))
    call_command("flush", interactive=False, verbosity=0)
    cache.clear()  # ids are reused after the flush
    users = _build(args.identities, args.files)
    superseded = ExportFile.objects.filter(superseded_by__isnull=False).count()
    print(
        f"  built {args.files:,} files across {args.identities} identities in {time.perf_counter() - started:.1f} s"
        f" ({superseded:,} superseded by a later good run)\n"
    )
    admin, staff = _client(users["admin"]), _client(users["staff"])

    print(f"  {'':<44} {'median':>10} {'p95':>10} {'queries':>5}")
    lines = []

    if args.query:
        print(f"  first pages and polls with ?{args.query}")
    first_page = _time(lambda: admin.get(page_path), args.runs)
    first_queries, page = _queries(lambda: admin.get(page_path))
    assert page.status_code == 200
    lines.append(
        _row(
            f"first page, superuser ({args.identities} identities)",
            first_page,
            first_queries,
            f"({small_queries} queries with {small:,} files)",
        )
    )
    staff_page = _time(lambda: staff.get(page_path), args.runs)
    lines.append(_row("first page, staff (12 identities)", staff_page, _queries(lambda: staff.get(page_path))[0]))

    filtered = _time(lambda: admin.get("/?status=failed&status=queued"), args.runs)
    lines.append(_row("filtered: failed + queued", filtered, _queries(lambda: admin.get("/?status=failed"))[0]))

    # The column orders (web/sorting.py), none of them indexed: the first page and the one after it (keyset).
    for sort in ("status", "export", "identity", "-first_seen", "-finished"):
        url = f"/?sort={sort}"
        sorted_page = _time(partial(admin.get, url), args.runs)
        lines.append(_row(f"first page, sort={sort}", sorted_page, _queries(partial(admin.get, url))[0]))
        following = re.search(r'rel="next" href="\?([^"]+)"', admin.get(url).content.decode())
        assert following, "the sorted list has a second page"
        next_url = "/?" + following.group(1).replace("&amp;", "&")
        next_page = _time(partial(admin.get, next_url), args.runs)
        lines.append(_row("  its next page (keyset)", next_page, _queries(partial(admin.get, next_url))[0]))

    # A page deep in the list: keyset pagination costs the same as the first page.
    from webadmit_dash.web.pagination import SortKey

    middle = ExportFile.objects.order_by("attention_rank", "-first_seen_at", "-webadmit_id", "-id")[args.files // 2]
    deep_url = f"/?after={SortKey.of(middle).encode()}&from={args.files // 2 + 2}"
    deep = _time(lambda: admin.get(deep_url), args.runs)
    lines.append(_row(f"page at row {args.files // 2:,} (keyset)", deep, _queries(lambda: admin.get(deep_url))[0]))

    htmx: dict[str, Any] = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": f"http://{HOST}{page_path}"}
    for label, client in (("unchanged poll (204)", admin), ("unchanged poll (204), staff", staff)):
        poller = _Poller(client, htmx, page_path)
        samples = poller.sample(args.runs * 5)
        queries, answer = _queries(poller.poll)
        assert answer.status_code == 204, answer.status_code
        note = f"({poller.renders} more re-rendered as the minute turned)" if poller.renders else ""
        lines.append(_row(label, samples, queries, note))
        if client is admin:
            poll_samples, poll_queries = samples, queries

    # One file on screen changes status: the poll answers with that row, the counts and the freshness.
    page = admin.get(page_path).content.decode()
    first_row = re.search(r'<tr id="file-(\d+)"', page)
    assert first_row, "the page lists no file"
    shown = int(first_row.group(1))
    poll = _poll_url(page)

    def changed_poll() -> Any:
        seq = ChangeCounter.next_value()
        ExportFile.objects.filter(pk=shown).update(change_seq=seq)
        UserIdentity.objects.filter(files__pk=shown).update(change_seq=seq)
        return admin.get(poll, **htmx)

    changed = _time(changed_poll, args.runs)
    lines.append(
        _row("changed poll (1 row + counts)", changed, _queries(changed_poll)[0] - 3, "(not counting the 3 writes)")
    )

    print("\n".join(lines))
    page_median = statistics.median(first_page)
    poll_median = statistics.median(poll_samples)
    verdicts = [
        (
            f"first page median <= {FIRST_PAGE_TARGET_MS:.0f} ms",
            page_median <= FIRST_PAGE_TARGET_MS,
            f"{page_median:.1f} ms",
        ),
        (
            "first page queries independent of rows",
            first_queries == small_queries,
            f"{small_queries} = {first_queries}",
        ),
        (f"unchanged poll median <= {POLL_TARGET_MS:.0f} ms", poll_median <= POLL_TARGET_MS, f"{poll_median:.2f} ms"),
        (f"unchanged poll <= {POLL_QUERY_TARGET} queries", poll_queries <= POLL_QUERY_TARGET, f"{poll_queries}"),
    ]
    print("\n  targets:")
    for name, ok, figure in verdicts:
        print(f"    {'met ' if ok else 'MISSED'}  {name:<42} {figure}")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
