"""The Recent Files list as CSV: 100,000 rows streamed in bounded memory.

    .venv/bin/python -m benchmarks.csv_export [--rows 100000] [--identities 50] [--database-url postgres://...]

Builds a throwaway SQLite database in a temporary DATA_DIR (or uses the PostgreSQL database the URL names, which it
empties of files first: give it a database of its own), fills it with --rows files, and downloads "Export this
list" through Django's whole stack (middleware, session, the view, the streamed response), reading the stream to
its end as a client would. Figures, for --rows and for a tenth of it, to show that memory does not follow the rows:

1. wall time and rows per second (without tracing);
2. peak Python memory during the request (tracemalloc), and the whole process's peak resident set during it
   (VmHWM, reset just before: it includes Django, the ORM and the data the fill step left to the allocator);
3. the size of the CSV, which a non-streamed answer would hold in memory at least once.

Target: peak traced memory for --rows within 2x of that for a tenth of the rows (bounded, not proportional). Below
about 20,000 rows the smaller run fits in one read of csv_export.CHUNK rows and the ratio says little.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks._django import setup_throwaway_django

BOUND_FACTOR = 2.0


def _fill(rows: int, identities: int) -> Any:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from webadmit_dash.core.models import Credential, Export, ExportFile, UserIdentity
    from webadmit_dash.webadmit.statuses import FileStatus

    ExportFile.objects.all().delete()
    UserIdentity.objects.all().delete()
    Credential.objects.all().delete()
    credential = Credential(name="Bench", base_url="https://api.webadmit.org")
    credential.set_api_key("0123456789abcdef0123456789abcdef")
    credential.save()
    people = UserIdentity.objects.bulk_create(
        UserIdentity(credential=credential, webadmit_id=1000 + n, association=f"CAS{n % 7}", cycle="2026 - 2027",
                     organization=f"School {n}")
        for n in range(identities)
    )  # fmt: skip
    exports = Export.objects.bulk_create(
        Export(identity=identity, webadmit_id=5000 + n, name=f"=Export {n} with a formula-looking name", format="CSV")
        for n, identity in enumerate(people)
    )
    now = timezone.now()
    statuses = list(FileStatus)
    batch = []
    for n in range(rows):
        index = n % identities
        batch.append(
            ExportFile(identity=people[index], webadmit_id=n + 1, export_webadmit_id=exports[index].webadmit_id,
                       export=exports[index], href="/", status=statuses[n % len(statuses)], raw_status="Available",
                       first_seen_at=now - timedelta(seconds=n), status_changed_at=now)
        )  # fmt: skip
        if len(batch) == 10_000:
            ExportFile.objects.bulk_create(batch)
            batch = []
    ExportFile.objects.bulk_create(batch)
    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True, "is_staff": True})
    return user


def _peak_rss_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


def _download(user: Any, *, traced: bool) -> dict[str, float]:
    from django.http import StreamingHttpResponse
    from django.test import Client

    client = Client()
    client.force_login(user)
    if traced:
        tracemalloc.start()
        tracemalloc.reset_peak()
    started = time.perf_counter()
    response = client.get("/", {"format": "csv", "expired": "1"})
    assert isinstance(response, StreamingHttpResponse), "the CSV is streamed"
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    if traced:
        tracemalloc.stop()
    return {"seconds": elapsed, "bytes": size, "lines": lines, "peak": peak}


def measure(rows: int, identities: int) -> dict[str, float]:
    user = _fill(rows, identities)
    _download(user, traced=False)  # warm: templates, URL resolver, the first queries' plans
    # Resets the peak resident set to what is resident now (Linux), so the peak below is the download's alone.
    Path("/proc/self/clear_refs").write_text("5")
    timed = _download(user, traced=False)
    rss_peak = _peak_rss_kb()
    traced = _download(user, traced=True)
    assert timed["lines"] == rows + 1, timed
    return {**timed, "peak": traced["peak"], "rss_peak_kb": rss_peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--identities", type=int, default=50)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-csv-") as data_dir:
        setup_throwaway_django(Path(data_dir), database_url=args.database_url or None)
        from django.conf import settings
        from django.core.management import call_command

        settings.ALLOWED_HOSTS.append("testserver")
        call_command("migrate", interactive=False, verbosity=0)
        vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        print(f"CSV export benchmark on {vendor}: {args.identities} identities", flush=True)
        small = measure(max(args.rows // 10, 1), args.identities)
        large = measure(args.rows, args.identities)
    for label, figures in ((f"{args.rows // 10:,} rows", small), (f"{args.rows:,} rows", large)):
        print(
            f"  {label:>12}: {figures['seconds']:.2f} s ({figures['lines'] / figures['seconds']:,.0f} rows/s), "
            f"CSV {figures['bytes'] / 1e6:.1f} MB, peak traced memory {figures['peak'] / 1e6:.2f} MB, "
            f"process peak RSS {figures['rss_peak_kb'] / 1024:.0f} MB"
        )
    ratio = large["peak"] / max(small["peak"], 1)
    verdict = "bounded" if ratio <= BOUND_FACTOR else "NOT bounded"
    print(f"  memory for 10x the rows: x{ratio:.2f} (target <= x{BOUND_FACTOR:g}): {verdict}")
    print(f"  the {args.rows:,}-row CSV is {large['bytes'] / 1e6:.1f} MB; the stream held at most "
          f"{large['peak'] / 1e6:.2f} MB of it and its rows at once")  # fmt: skip


if __name__ == "__main__":
    main()
