"""Two notes a Recent Files row adds under its status, each read by the page's one query (annotations for_rows adds,
indexed lookups evaluated for the rows they concern only), never a query per row:

- "downloaded by Maria 09:02": the latest download that gave someone the file (core.problems.DOWNLOADED; refused or
  expired clicks do not count), by the person's display name (core.people);
- "a newer run is going: started 09:40" on a failed run whose export has a newer run still unfinished (RUNNING),
  linking to it; file_export_runs_idx finds the newer runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import BigIntegerField, Case, CharField, DateTimeField, Exists, OuterRef, Q, Subquery, When
from django.utils.html import format_html
from django.utils.safestring import SafeString

from webadmit_dash.core import people
from webadmit_dash.core.models import DownloadEvent, ExportFile
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
        export_webadmit_id=OuterRef("export_webadmit_id"),
        webadmit_id__gt=OuterRef("webadmit_id"),
        **extra,
    )


def columns() -> dict[str, Any]:
    """The columns FileRow reads for both notes; each subquery runs only for the rows its CASE lets through."""
    got = DownloadEvent.objects.filter(export_file=OuterRef("pk"), outcome__in=DOWNLOADED).order_by(
        "-created_at", "-pk"
    )
    going = _newer_runs(status__in=_RUNNING, superseded_by__isnull=True, gone_at__isnull=True).order_by("-webadmit_id")
    downloadable = Q(status__in=_DOWNLOADABLE)
    return {
        "downloaded_at": Case(
            When(downloadable, then=Subquery(got.values("created_at")[:1])), output_field=DateTimeField()
        ),
        "downloaded_by": Case(
            When(downloadable, then=Subquery(got.values(name=people.display_name_expression("user"))[:1])),
            output_field=CharField(),
        ),
        "newer_run_pk": Case(When(_FAILED_OPEN, then=Subquery(going.values("pk")[:1])), output_field=BigIntegerField()),
        "newer_run_started": Case(
            When(_FAILED_OPEN, then=Subquery(going.values("first_seen_at")[:1])), output_field=DateTimeField()
        ),
    }


def newer_run_changed(version: int) -> Q:
    """Failed rows whose note may have changed since `version`: a newer run of their export changed (started, or
    ended), so a poll re-renders them although the row's own file did not change."""
    return _FAILED_OPEN & Q(Exists(_newer_runs(change_seq__gt=version)))


def downloaded(export_file: ExportFile, now: datetime) -> SafeString:
    """ "downloaded by Maria 09:02", from columns(); "" when nobody did (or the file was loaded otherwise)."""
    at = vars(export_file).get("downloaded_at")
    if at is None:
        return SafeString("")
    who = vars(export_file).get("downloaded_by") or "someone"
    return format_html("downloaded by {} {}", who, clock_time(at, now))


def newer_run(export_file: ExportFile, now: datetime, file_url: str) -> SafeString:
    """ "a newer run is going: started 09:40", linking to that run (`file_url` a pattern with its pk's slot)."""
    annotated = vars(export_file)
    pk, started = annotated.get("newer_run_pk"), annotated.get("newer_run_started")
    if pk is None or started is None:
        return SafeString("")
    return format_html(
        'a newer run is going: <a href="{}">started {}</a>', file_url.format(pk), clock_time(started, now)
    )
