"""Two notes a Recent Files row adds under its status, read for the rows shown only (at most two queries for a page's
or a poll's rows, whichever they are), never a query per row:

- "downloaded by Maria 09:02": the latest download that gave someone the file (core.problems.DOWNLOADED; refused or
  expired clicks do not count), by the person's display name (core.people);
- "a newer run is going: started 09:40" on a failed run whose export has a newer run still unfinished (RUNNING),
  linking to it.

They are read after the page's rows, not joined into the list's query: there, SQLite evaluated their subqueries for
every file it sorted (4 ms of the first page at 100,000 files), and the CSV and the API, which list the same query,
paid for notes they never show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.html import format_html
from django.utils.safestring import SafeString

from webadmit_dash.core import people
from webadmit_dash.core.models import DownloadEvent, ExportFile
from webadmit_dash.core.problems import DOWNLOADED
from webadmit_dash.shared.templatetags.display import clock_time
from webadmit_dash.webadmit.statuses import DOWNLOADABLE, RUNNING, FileStatus

_DOWNLOADABLE = [status.value for status in DOWNLOADABLE]
_RUNNING = [status.value for status in RUNNING]
# Only a failed run nobody re-ran well yet can be "overtaken" by a newer one still going.
_FAILED_OPEN = Q(status=FileStatus.FAILED, superseded_by__isnull=True)


def _newer_runs(**extra: Any) -> Any:
    """The same export's newer runs (by WebAdMIT's file id) than the outer file's, still going unless `extra`."""
    return ExportFile.objects.filter(
        identity_id=OuterRef("identity_id"),
        kind=OuterRef("kind"),
        export_webadmit_id=OuterRef("export_webadmit_id"),
        webadmit_id__gt=OuterRef("webadmit_id"),
        **extra,
    )


@dataclass(frozen=True)
class Notes:
    """What one row's notes read: the latest download that gave someone the file, and a newer run still going."""

    downloaded_at: datetime | None = None
    downloaded_by: str | None = None
    newer_run_pk: int | None = None
    newer_run_started: datetime | None = None


NO_NOTES = Notes()


def notes_for(files: Iterable[ExportFile]) -> dict[int, Notes]:
    """The notes of these rows, by file pk: at most two plain queries over the rows shown (none without rows, the
    second only when an open failure is shown), never one per row. Plain queries matched here rather than a
    subquery per note: building those cost more than running these."""
    by_pk = {f.pk: f for f in files}
    if not by_pk:
        return {}
    notes: dict[int, Notes] = {}
    # The latest download that gave someone each file, by its user's columns (core.people names them).
    events = (
        DownloadEvent.objects.filter(export_file_id__in=list(by_pk), outcome__in=DOWNLOADED)
        .order_by("export_file_id", "-created_at", "-pk")
        .values_list("export_file_id", "created_at", "user__first_name", "user__last_name", "user__username")
    )
    for pk, at, *name in events:
        # The first is the latest; shown on files that can be downloaded only.
        if pk not in notes and by_pk[pk].status in _DOWNLOADABLE:
            notes[pk] = Notes(downloaded_at=at, downloaded_by=people.display_name_of(*name))
    # Per open failure on the page, its export's newest run still going: the unfinished runs of those
    # exports, read by file_identity_status_idx, the superseded ones set aside here. Said with
    # `superseded_by IS NULL`, the query had SQLite (no statistics) walk the superseded_by index, which holds every
    # file not superseded: 17 ms, against 0.2 ms.
    failures = [f for f in by_pk.values() if f.status == FileStatus.FAILED and f.superseded_by_id is None]
    runs = (
        ExportFile.objects.filter(
            status__in=_RUNNING,
            gone_at__isnull=True,
            identity_id__in={f.identity_id for f in failures},
            kind__in={f.kind for f in failures},
            export_webadmit_id__in={f.export_webadmit_id for f in failures},
        )
        .order_by("-webadmit_id")
        .values_list(
            "identity_id", "kind", "export_webadmit_id", "webadmit_id", "pk", "first_seen_at", "superseded_by_id"
        )
    )
    runs_going = [run[:-1] for run in runs if run[-1] is None]
    newest: dict[tuple[int, str, int], tuple[int, int, datetime]] = {}
    for identity_id, kind, export_id, webadmit_id, run_pk, started in runs_going:
        # Newest first: the first of each export is its newest.
        newest.setdefault((identity_id, kind, export_id), (webadmit_id, run_pk, started))
    for failure in failures:
        run = newest.get((failure.identity_id, failure.kind, failure.export_webadmit_id))
        if run is not None and run[0] > failure.webadmit_id:
            _, run_pk, started = run
            notes[failure.pk] = replace(notes.get(failure.pk, NO_NOTES), newer_run_pk=run_pk, newer_run_started=started)
    return notes


def newer_run_changed(version: int) -> Q:
    """Failed rows whose note may have changed since `version`: a newer run of their export changed (started, or
    ended), so a poll re-renders them although the row's own file did not change."""
    return _FAILED_OPEN & Q(Exists(_newer_runs(change_seq__gt=version)))


def downloaded(notes: Notes, now: datetime) -> SafeString:
    """ "downloaded by Maria 09:02"; "" when nobody did."""
    if notes.downloaded_at is None:
        return SafeString("")
    return format_html("downloaded by {} {}", notes.downloaded_by or "someone", clock_time(notes.downloaded_at, now))


def newer_run(notes: Notes, now: datetime, file_url: str) -> SafeString:
    """ "a newer run is going: started 09:40", linking to that run (`file_url` a pattern with its pk's slot)."""
    if notes.newer_run_pk is None or notes.newer_run_started is None:
        return SafeString("")
    return format_html(
        'a newer run is going: <a href="{}">started {}</a>',
        file_url.format(notes.newer_run_pk),
        clock_time(notes.newer_run_started, now),
    )
