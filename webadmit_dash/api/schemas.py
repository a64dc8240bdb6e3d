"""What the API accepts and answers, as pydantic schemas (django-ninja): the OpenAPI document is made from these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from webadmit_dash.webadmit.statuses import FileStatus

MAX_ID = 2**63 - 1  # ids are signed 64-bit columns: anything larger matches nothing and must not reach the database
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


class FileFilters(Schema):
    """The Recent Files page's filters, with the same names and meaning as in its URLs."""

    status: list[FileStatus] = Field(default_factory=list, description="Keep files in any of these statuses.")
    identity: int | None = Field(None, ge=1, le=MAX_ID, description="One identity's id (from /identities).")
    association: str = Field("", max_length=200, description="One CAS, e.g. SOPHAS.")
    cycle: str = Field("", max_length=50, description="One cycle, e.g. '2026 - 2027'.")
    q: str = Field(
        "",
        max_length=100,
        description="Part of the export's name, a file id, or part of an identity's name, CAS or cycle.",
    )
    expired: bool = Field(False, description="Also files WebAdMIT no longer lists.")
    sort: Sort | None = Field(
        None,
        description="The order, as the page's column headers set it: status, export or identity A to Z, first "
        "seen or finished oldest first; a leading '-' reverses it. Without it: needing attention first, then newest. "
        "Running files have not finished: they come last by `finished` and first by `-finished`.",
    )


class FilePageQuery(FileFilters):
    after: str | None = Field(None, max_length=100, description="`next_cursor` of the previous page.")
    limit: int = Field(PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="Files per page.")


class IdentityPageQuery(Schema):
    after: int | None = Field(None, ge=0, le=MAX_ID, description="`next_cursor` of the previous page.")
    limit: int = Field(PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="Identities per page.")


class FileOut(Schema):
    id: int = Field(description="Our id of the file: the one in /files/{id}.")
    webadmit_id: int = Field(description="WebAdMIT's id of the file (its export_files id).")
    export_id: int = Field(description="WebAdMIT's id of the export it is a run of.")
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
        "after WebAdMIT forgot it)."
    )
    needs_attention: bool = Field(
        description="Running, failed and not acknowledged, or refused by a destination: what the page sorts first."
    )
    delivery_failed: bool = Field(description="A destination refused it for good and it was not delivered there since.")
    archived: bool = Field(description="Its copy is in the archive: downloads come from there, not from WebAdMIT.")


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


class FileDetail(FileOut):
    history: list[StatusChangeOut] = Field(description="Status changes seen, newest first.")
    collected: CollectedOut | None = Field(description="What collection kept of it; null when nothing is collected.")
    deliveries: list[DeliveryOut] = Field(description="Each delivery to each destination, oldest first.")


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


class ValidationErrors(Schema):
    detail: list[dict[str, Any]]


class DownloadRefused(Schema):
    detail: str = Field(description="What happened and what to do, in words.")
    title: str
    outcome: str = Field(description="The audit's outcome, e.g. not_downloadable, rate_limited.")
