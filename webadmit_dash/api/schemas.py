"""What the API accepts and answers, as pydantic schemas (django-ninja): the OpenAPI document is made from these."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import model_validator

from webadmit_dash.core.models import Kind
from webadmit_dash.core.states import FileState
from webadmit_dash.web import date_range
from webadmit_dash.webadmit.statuses import FileStatus

MAX_ID = 2**63 - 1  # ids are signed 64-bit columns: anything larger matches nothing and must not reach the database
MAX_PART = 2**15 - 1  # a zip's part is a small integer column (BatchZip.part), for the same reason
PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000
# The orders the list offers (web/sorting.py SORT_VALUES, which a test holds this to): anything else is refused
# (422), not silently dropped as the page does.
Sort = Literal[
    "status",
    "-status",
    "export",
    "-export",
    "identity",
    "-identity",
    "first_seen",
    "-first_seen",
    "finished",
    "-finished",
]


class ListStatus(enum.StrEnum):
    """The page's status chips (web/filters.py STATUS_VALUES): WebAdMIT's statuses, and four that are not one."""

    INITIALIZING = "initializing"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    AVAILABLE = "available"
    SUCCESS_WITH_ERRORS = "success_with_errors"
    EMPTY_LIST = "empty_list"
    FAILED = "failed"
    UNKNOWN = "unknown"
    HANDLED = "handled"
    SUPERSEDED = "superseded"
    DELIVERY_FAILED = "delivery_failed"
    RUNNING = "running"  # every unfinished run: the Running chip (web/filters.py RUNNING_GROUP)


class StateFilter(enum.StrEnum):
    """A file's state (core/states.py), or "handled" for superseded and acknowledged ones."""

    NEEDS_ATTENTION = "needs_attention"
    SUPERSEDED = "superseded"
    ACKNOWLEDGED = "acknowledged"
    DONE = "done"
    HANDLED = "handled"


class FileFilters(Schema):
    """The Recent Files page's filters, with the same names and meaning as in its URLs."""

    status: list[ListStatus] = Field(
        default_factory=list,
        description="Keep files in any of these statuses, as the page's chips count them: a status keeps its files "
        "that are not handled (failed means failed and needing attention); `handled` keeps the superseded and "
        "acknowledged ones, `superseded` the superseded ones, `delivery_failed` those a destination refused, "
        "`running` every unfinished run (the Running chip).",
    )
    state: list[StateFilter] = Field(
        default_factory=list,
        description="Keep files in any of these states (and in the statuses asked for): `needs_attention`, "
        "`superseded` (a later run of the export ended well), `acknowledged` (failed, and a person said they have "
        "seen it), `done` (anything else), or `handled` (superseded or acknowledged).",
    )
    kind: Kind | None = Field(
        None, description="Only export files (`export`) or only PDF Manager batches (`pdf_batch`); both without it."
    )
    identity: int | None = Field(None, ge=1, le=MAX_ID, description="One identity's id (from /identities).")
    association: str = Field("", max_length=200, description="One CAS, e.g. SOPHAS.")
    cycle: str = Field("", max_length=50, description="One cycle, e.g. '2026 - 2027'.")
    q: str = Field(
        "",
        max_length=100,
        description="Part of the export's name, a file id, or part of an identity's name, CAS or cycle.",
    )
    expired: bool = Field(False, description="Also files WebAdMIT no longer lists.")
    when: Literal["", "today", "yesterday", "7d"] = Field(
        "",
        description="Runs first seen today, yesterday or in the last 7 days (`7d`: today and the 6 days before), "
        "days starting at midnight in the token's user's time zone (their preference, else the institution's).",
    )
    seen_from: date | None = Field(None, description="Runs first seen on or after this day (YYYY-MM-DD).")
    seen_to: date | None = Field(None, description="Runs first seen on or before this day (YYYY-MM-DD).")

    @model_validator(mode="after")
    def _in_order(self) -> FileFilters:
        if self.when and (self.seen_from or self.seen_to):
            raise ValueError("Give either when or seen_from/seen_to, not both.")
        date_range.check_order(self.seen_from, self.seen_to)  # BadRange is a ValueError: a 422 that says why
        # A day before any run or after the calendar's use is the same filter as the first or last day a range may
        # name (web.date_range keeps days away from the calendar's ends, where a zone's offset would overflow).
        self.seen_from = _within_the_years_kept(self.seen_from)
        self.seen_to = _within_the_years_kept(self.seen_to)
        return self

    webadmit_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="WebAdMIT's file id (the number on the rows): only the file(s) it names."
    )
    sort: Sort | None = Field(
        None,
        description="The order, as the page's column headers set it: status, export or identity A to Z, first "
        "seen or finished oldest first; a leading '-' reverses it. Without it: needing attention first, then newest. "
        "Running files have not finished: they come last by `finished` and first by `-finished`.",
    )


def _within_the_years_kept(day: date | None) -> date | None:
    return None if day is None else min(max(day, date_range.FIRST_DAY), date_range.LAST_DAY)


class FilePageQuery(FileFilters):
    after: str | None = Field(None, max_length=100, description="`next_cursor` of the previous page.")
    limit: int = Field(PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="Files per page.")


class IdentityPageQuery(Schema):
    after: int | None = Field(None, ge=0, le=MAX_ID, description="`next_cursor` of the previous page.")
    limit: int = Field(PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="Identities per page.")


class ZipOut(Schema):
    part: int = Field(description="Its place among the batch's zips, from 1, in WebAdMIT's order.")
    parts: int = Field(description="How many zips the batch has.")
    archived: bool = Field(description="Collection kept it in the archive: its download comes from there.")
    download_url: str | None = Field(
        description="Our download address of the zip while it is downloadable (from the archive, once it is there, "
        "even after WebAdMIT forgot the batch); null otherwise."
    )


class FileOut(Schema):
    id: int = Field(description="Our id of the file: the one in /files/{id}.")
    kind: Kind = Field(
        description="`export`: a run of an export; `pdf_batch`: a PDF Manager batch, whose export is its template "
        "(`export_id`, `export_name`) and whose documents are zips (`zips`), each downloaded on its own."
    )
    webadmit_id: int = Field(description="WebAdMIT's id of the file (its export_files id, or its batch id).")
    export_id: int = Field(description="WebAdMIT's id of the export it is a run of (or the batch's template).")
    export_name: str | None = Field(description="The export's name; null until WebAdMIT has told it.")
    format: str
    identity_id: int
    identity: str = Field(description="The identity's name (its label, or CAS and organisation).")
    association: str
    cycle: str
    status: FileStatus
    status_label: str
    raw_status: str = Field(description="The status exactly as WebAdMIT sent it.")
    status_changed_at: datetime
    first_seen_at: datetime
    gone_at: datetime | None = Field(description="When WebAdMIT stopped listing it (expired); null while listed.")
    download_url: str | None = Field(
        description="Our download address while the file is downloadable (from the archive, once it is there, even "
        "after WebAdMIT forgot it); null for a PDF Manager batch, whose zips each have their own (`zips`)."
    )
    state: FileState = Field(
        description="needs_attention (running, failed and not handled, or refused by a destination: what the page "
        "sorts first), superseded (a later run of its export ended well), acknowledged (failed, and a person said "
        "they have seen it) or done. Superseded and acknowledged files are handled."
    )
    needs_attention: bool = Field(description="Whether `state` is needs_attention (kept for older scripts).")
    acknowledged_at: datetime | None = Field(description="When a person acknowledged this failure; null if none did.")
    acknowledged_by: str | None = Field(description="Who acknowledged it (their username); null if none did.")
    superseded_by: int | None = Field(
        description="Our id of the later run of the same export that ended well and superseded this one; null if none."
    )
    delivery_failed: bool = Field(description="A destination refused it for good and it was not delivered there since.")
    archived: bool = Field(description="Its copy is in the archive: downloads come from there, not from WebAdMIT.")
    zips: list[ZipOut] = Field(
        description="A PDF Manager batch's zips (WebAdMIT cuts a batch into zips of up to 1 GB), part 1 first; empty "
        "until WebAdMIT lists them once the batch is ready, and always for an export file."
    )


class FilePage(Schema):
    items: list[FileOut]
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null on the last page.")
    next: str | None = Field(description="The next page's address; null on the last page.")


class StatusChangeOut(Schema):
    old_status: FileStatus | None
    new_status: FileStatus
    raw_status: str
    changed_at: datetime


class CollectedOut(Schema):
    state: str = Field(description="waiting, collected, failed or pruned.")
    size: int | None = Field(description="Bytes kept.")
    sha256: str = Field(description="SHA-256 of the bytes kept, hex; empty until collected.")
    line_count: int | None = Field(description="Lines, for text formats.")
    content_type: str
    collected_at: datetime | None
    pruned_at: datetime | None = Field(description="When the archived copy was deleted (retention); null if kept.")
    hold: bool = Field(description="Kept past the retention period.")
    last_error: str = Field(description="Why collection failed or is being retried; empty when nothing.")


class DeliveryOut(Schema):
    id: int
    destination: str = Field(description="The destination's name.")
    round: int = Field(description="1, then one more for each Deliver again.")
    state: str = Field(description="pending, delivered or failed.")
    file_name: str
    remote_name: str = Field(description="Where it was put, as the destination names it; empty until delivered.")
    checksum_verified: bool
    delivered_at: datetime | None
    failed_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    last_error: str


class PieceOut(Schema):
    collected: CollectedOut | None = Field(description="What collection kept of it; null when nothing is collected.")
    deliveries: list[DeliveryOut] = Field(description="Each delivery to each destination, oldest first.")


class ZipDetail(PieceOut, ZipOut):  # ZipOut's fields first
    """A zip of a batch with its own collection trail: each zip is collected, kept and delivered as a file is."""


class FileDetail(FileOut):
    zips: list[ZipDetail] = Field(  # type: ignore[assignment]  # the list's zips, each with its trail
        description="A PDF Manager batch's zips, part 1 first, each with what collection kept of it and its "
        "deliveries (a batch's own `collected` is null and its `deliveries` empty: they are per zip); empty until "
        "WebAdMIT lists them, and always for an export file."
    )
    index: PieceOut | None = Field(
        description="A PDF Manager batch's index CSV (the documents in each zip, made from the archived zips when a "
        "delivery rule asks for one) and its deliveries; null when it has none, and always for an export file."
    )
    history: list[StatusChangeOut] = Field(description="Status changes seen, newest first.")
    collected: CollectedOut | None = Field(
        description="What collection kept of it; null when nothing is collected, and for a batch (see `zips`)."
    )
    deliveries: list[DeliveryOut] = Field(
        description="Each delivery to each destination, oldest first; empty for a batch (see `zips` and `index`)."
    )


class DeliverAgainOut(Schema):
    detail: str = Field(description="What was done, in words.")
    deliveries: list[DeliveryOut] = Field(description="The new rounds, sent within seconds.")


class IdentityOut(Schema):
    id: int
    webadmit_id: int
    name: str
    association: str
    organization: str
    institution: str
    cycle: str
    freshness: str = Field(description="ok, late, error, paused or new, as the Identities page says.")
    freshness_note: str
    refreshing: bool = Field(description="A refresh is queued or running.")
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    next_refresh_at: datetime | None
    error: str = Field(description="What went wrong last, in words; empty when nothing.")


class IdentityPage(Schema):
    items: list[IdentityOut]
    next_cursor: int | None
    next: str | None


class ScheduleOut(Schema):
    id: int
    export_id: int = Field(description="Our id of the export: its page is /exports/{export_id}/.")
    export_webadmit_id: int = Field(description="WebAdMIT's id of the export.")
    export_name: str
    identity_id: int
    identity: str = Field(description="The identity's name (its label, or CAS and organisation).")
    kind: str = Field(description="daily, weekdays or cron.")
    times: str = Field(description="daily and weekdays: the times of day, e.g. '06:00, 13:00'; empty for cron.")
    cron: str = Field(description="cron: the expression; empty otherwise.")
    time_zone: str = Field(description="The institution's time zone the times are in (TIME_ZONE).")
    description: str = Field(description="The schedule in words, e.g. 'Weekdays at 06:00 and 13:00'.")
    enabled: bool
    next_run_at: datetime | None = Field(description="The next slot; null when disabled or not valid.")
    last_run_at: datetime | None = Field(description="The last slot dealt with.")
    last_outcome: str = Field(description="started, refused or skipped; empty before the first slot.")
    last_message: str


class SchedulePage(Schema):
    items: list[ScheduleOut]
    next_cursor: int | None
    next: str | None


class OpenMissOut(Schema):
    expected_by: datetime
    detected_at: datetime
    words: str = Field(description="e.g. 'Expected by 07:00, nothing yet'.")


class ExpectationOut(Schema):
    id: int
    export_id: int = Field(description="WebAdMIT's id of the export expected.")
    export_name: str
    identity_id: int
    identity: str
    by_time: str = Field(
        description="A good run (Available or Success With Errors) is expected by this time of day, "
        "HH:MM in the institution's time zone."
    )
    days: str = Field(description="daily or weekdays (Monday to Friday).")
    enabled: bool
    schedule_id: int | None = Field(description="The schedule it was made from, if any.")
    next_deadline: datetime | None = Field(description="null while disabled.")
    checked_through: datetime | None = Field(description="The last deadline the watchdog judged.")
    open_misses: list[OpenMissOut] = Field(description="Deadlines missed whose file has not come, oldest first.")


class ExpectationList(Schema):
    items: list[ExpectationOut]


class Message(Schema):
    detail: str


class FileCandidate(Schema):
    id: int = Field(description="Our id of the file: ask /files/{id} with it.")
    webadmit_id: int = Field(description="WebAdMIT's id of the file.")
    identity_id: int
    identity: str = Field(description="The identity's whole name, cycle included.")
    export_name: str = Field(description="The export's name (or 'Export <id>' until WebAdMIT has told it).")
    matched: str = Field(description="`id` when the number is our id of this file, `webadmit_id` when WebAdMIT's.")


class Ambiguous(Schema):
    detail: str
    candidates: list[FileCandidate]


class ValidationErrors(Schema):
    detail: list[dict[str, Any]]


class DownloadRefused(Schema):
    detail: str = Field(description="What happened and what to do, in words.")
    title: str
    outcome: str = Field(description="The audit's outcome, e.g. not_downloadable, rate_limited.")
