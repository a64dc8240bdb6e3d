"""Two notes a Recent Files row adds under its status, read for the rows shown only (one query for a page's or a poll's
rows, and one for the names of who downloaded them when some were), never a query per row:

- "downloaded by Maria 09:02": the latest download that gave someone the file (core.problems.DOWNLOADED; refused or
  expired clicks do not count), by the person's display name (core.people);
- "a newer run is going: started 09:40" on a failed run whose export has a newer run still unfinished (RUNNING),
  linking to it; file_export_going_idx (the runs going, only) finds it.

They are read after the page's rows, not joined into the list's query: there, SQLite evaluated their subqueries for
every file it sorted (4 ms of the first page at 100,000 files), and the CSV and the API, which list the same query,
paid for notes they never show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import BigIntegerField, Case, DateTimeField, Exists, OuterRef, Q, Subquery, When
from django.utils.html import format_html
from django.utils.safestring import SafeString

from webadmit_dash.core import people
from webadmit_dash.core.models import GOING, DownloadEvent, ExportFile
from webadmit_dash.core.problems import DOWNLOADED
from webadmit_dash.shared.templatetags.display import clock_time
from webadmit_dash.webadmit.statuses import DOWNLOADABLE, RUNNING, FileStatus

_RUNNING = [status.value for status in RUNNING]
_DOWNLOADABLE = [status.value for status in DOWNLOADABLE]
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
    """The notes of these rows, by file pk: one query over the rows that may have one (downloadable files and open
    failures), each subquery run only for the rows its CASE lets through; none without such rows. One query
    whatever the rows, so a page costs the same number of queries whichever files it shows."""
    pks = [
        f.pk for f in files if f.status in _DOWNLOADABLE or (f.status == FileStatus.FAILED and not f.superseded_by_id)
    ]
    if not pks:
        return {}
    got = DownloadEvent.objects.filter(export_file=OuterRef("pk"), outcome__in=DOWNLOADED).order_by(
        "-created_at", "-pk"
    )
    # A failure's export's newest run still going: a lookup in file_export_going_idx (only the runs going).
    going = _newer_runs().filter(GOING).order_by("-webadmit_id")
    downloadable = Q(status__in=_DOWNLOADABLE)
    read = (
        ExportFile.objects.filter(pk__in=pks)
        .order_by()
        .values_list(
            "pk",
            Case(When(downloadable, then=Subquery(got.values("created_at")[:1])), output_field=DateTimeField()),
            Case(When(downloadable, then=Subquery(got.values("user_id")[:1])), output_field=BigIntegerField()),
            Case(When(_FAILED_OPEN, then=Subquery(going.values("pk")[:1])), output_field=BigIntegerField()),
            Case(When(_FAILED_OPEN, then=Subquery(going.values("first_seen_at")[:1])), output_field=DateTimeField()),
        )
    )
    notes: dict[int, Notes] = {}
    by_user: dict[int, list[int]] = {}
    for pk, downloaded_at, user_id, newer_pk, newer_started in read:
        if downloaded_at is None and newer_pk is None:
            continue
        notes[pk] = Notes(downloaded_at, None, newer_pk, newer_started)
        if user_id is not None:
            by_user.setdefault(user_id, []).append(pk)
    if by_user:
        # Whose downloads, by name: a second query only when some row shows one.
        for user_id, *name in User.objects.filter(pk__in=by_user).values_list(
            "pk", "first_name", "last_name", "username"
        ):
            for pk in by_user[user_id]:
                notes[pk] = replace(notes[pk], downloaded_by=people.display_name_of(*name))
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
