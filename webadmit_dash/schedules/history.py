"""One export's history, as its page tells it: its runs over time (status, first seen, finished, how long, who
started it), how often they failed lately, how long they usually take and how far the current run is against that,
and its last good run with whoever downloaded it.

Bounded whatever the history's length: six small queries for the page, none per run. "Usually takes" is the stuck
mark's own figure (core.stuck.usual_durations), so the row that says "Stuck" and this page never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.html import format_html
from django.utils.safestring import SafeString

from webadmit_dash.core import people, stuck
from webadmit_dash.core.models import DownloadEvent, Export, ExportFile, RunRequest, StatusChange
from webadmit_dash.core.problems import DOWNLOADED
from webadmit_dash.shared.templatetags.display import BADGES, clock_time, describe_span, time_lasting
from webadmit_dash.webadmit.statuses import DOWNLOADABLE, OUTCOMES, RUNNING, FileStatus

RUNS_SHOWN = 20  # the history table and the strip
RATE_WINDOW = 10  # "failed 2 of the last 10"


@dataclass(frozen=True)
class Run:
    """One run of the export as the history table shows it."""

    file: ExportFile
    status: FileStatus
    finished_at: datetime | None  # its first outcome as seen here; None while running, or when first seen finished
    took: timedelta | None  # first sight to first outcome; None when unknown (see finished_at)
    started_by: str  # "Maria Núñez (Run again)", "Schedule: Nightly at 06:00", or "" when not started here

    @property
    def running(self) -> bool:
        return self.status in RUNNING and self.file.superseded_by_id is None and self.file.gone_at is None

    @property
    def tone(self) -> str:
        """The status badge's colour ("ok", "bad"...), for the outcome strip."""
        return BADGES[self.status].tone

    @property
    def took_words(self) -> str:
        return describe_span(self.took.total_seconds()) if self.took is not None else ""


@dataclass(frozen=True)
class History:
    runs: list[Run]  # newest first
    rate: str  # "Failed 2 of the last 10 runs."
    usual: stuck.Usual
    usual_words: str  # "Usually takes 15 min (the median of 8 finished runs)."
    current: Run | None  # the newest run still going, if any
    progress: SafeString  # "Running 12 min; usually takes 15 min."
    last_good: ExportFile | None
    downloaded: SafeString  # "downloaded by Maria 09:02", or why not

    @property
    def strip(self) -> list[Run]:
        """The runs oldest first, for the outcome strip read left to right."""
        return self.runs[::-1]


def history(export: Export, now: datetime) -> History:
    runs_of = export.runs()
    files = list(runs_of.order_by("-webadmit_id")[:RUNS_SHOWN])
    pks = [each.pk for each in files]
    finished = _first_outcomes(pks)
    starters = _starters(pks)
    runs = [
        Run(
            file=each,
            status=each.status_enum,
            finished_at=finished.get(each.pk),
            took=finished[each.pk] - each.first_seen_at if each.pk in finished else None,
            started_by=starters.get(each.pk, ""),
        )
        for each in files
    ]
    key = stuck.key_of_export(export)
    usual = stuck.usual_durations([key])[key]
    current = next((run for run in runs if run.running), None)
    last_good = runs_of.filter(status__in=[s.value for s in DOWNLOADABLE]).order_by("-webadmit_id").first()
    return History(
        runs=runs,
        rate=rate_words([run.status for run in runs]),
        usual=usual,
        usual_words=usual_words(usual),
        current=current,
        progress=progress_words(current.file.first_seen_at, usual, now) if current else SafeString(""),
        last_good=last_good,
        downloaded=downloaded_words(last_good, now) if last_good else SafeString(""),
    )


def _first_outcomes(pks: list[int]) -> dict[int, datetime]:
    """When each run first reached an outcome as seen here (one query); runs first seen already finished are left
    out, as core.stuck leaves them out: how long they took is unknown."""
    changes = (
        StatusChange.objects.filter(export_file_id__in=pks, new_status__in=[s.value for s in OUTCOMES])
        .exclude(old_status="")
        .order_by("changed_at")
        .values_list("export_file_id", "changed_at")
    )
    first: dict[int, datetime] = {}
    for file_id, changed_at in changes:
        first.setdefault(file_id, changed_at)
    return first


def _starters(pks: list[int]) -> dict[int, str]:
    """Who or what started each run started here (one query): its first start, a second one found it running."""
    started: dict[int, str] = {}
    requests = RunRequest.objects.filter(run_id__in=pks).select_related("user").order_by("created_at")
    for request in requests:
        if request.run_id is None or request.run_id in started:
            continue
        if request.source == RunRequest.Source.SCHEDULE:
            started[request.run_id] = f"Schedule: {request.source_label}"
        else:
            started[request.run_id] = f"{people.display_name(request.user) or 'a deleted user'} (Run again)"
    return started


def rate_words(statuses: Sequence[FileStatus]) -> str:
    """How often the last RATE_WINDOW finished runs failed (newest first in `statuses`), in words."""
    outcomes = [status for status in statuses if status in OUTCOMES][:RATE_WINDOW]
    total, failed = len(outcomes), outcomes.count(FileStatus.FAILED)
    if total == 0:
        return "No run has finished yet."
    if total == 1:
        return "Its only finished run failed." if failed else "Its only finished run ended well."
    if failed == 0:
        return f"None of the last {total} runs failed."
    if failed == total:
        return f"All of the last {total} runs failed."
    return f"Failed {failed} of the last {total} runs."


def usual_words(usual: stuck.Usual) -> str:
    if usual.took is None:
        return "No finished run yet to say how long a run usually takes."
    runs = "its one finished run" if usual.runs == 1 else f"the median of {usual.runs} finished runs"
    return f"Usually takes {describe_span(usual.took.total_seconds())} ({runs})."


def progress_words(started: datetime, usual: stuck.Usual, now: datetime) -> SafeString:
    """ "Running 12 min; usually takes 15 min." for the run still going."""
    if usual.took is None:
        return format_html("Running {}; no finished run yet to compare with.", time_lasting(started, now))
    return format_html(
        "Running {}; usually takes {}.", time_lasting(started, now), describe_span(usual.took.total_seconds())
    )


def downloaded_words(last_good: ExportFile, now: datetime) -> SafeString:
    """ "downloaded by Maria 09:02": its latest download that gave someone the file (one query)."""
    event = (
        DownloadEvent.objects.filter(export_file=last_good, outcome__in=DOWNLOADED)
        .select_related("user")
        .order_by("-created_at")
        .first()
    )
    if event is None:
        return SafeString("not downloaded from this dashboard yet")
    who = people.display_name(event.user) or "someone"
    return format_html("downloaded by {} {}", who, clock_time(event.created_at, now))
