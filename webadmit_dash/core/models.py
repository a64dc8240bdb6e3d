"""What webadmit-dash knows: credentials, user identities, exports, export files and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.db.models import Case, Q, QuerySet, Value, When
from django.utils import timezone

from webadmit_dash.core import crypto
from webadmit_dash.core.problems import DownloadOutcome, ErrorKind
from webadmit_dash.core.validators import normalise_base_url, validate_webadmit_base_url
from webadmit_dash.webadmit.statuses import RUNNING, FileStatus

STATUS_CHOICES = [(status.value, status.label) for status in FileStatus]
# The statuses as the rows word them, A to Z: the list's status order (ExportFile.status_rank).
STATUSES_BY_LABEL = sorted(FileStatus, key=lambda status: status.label)
# What "needs attention" means, as one condition the database stores (attention_rank): unfinished or unknown, or
# failed and not acknowledged, and in either case not superseded by a later run that ended well; or delivered to a
# destination that refused it for good (until it is delivered again).
NEEDS_ATTENTION = (
    Q(superseded_by__isnull=True) & (Q(status__in=RUNNING) | Q(status=FileStatus.FAILED, acknowledged_at__isnull=True))
) | Q(delivery_failed_at__isnull=False)


class Kind(models.TextChoices):
    """What an ExportFile row is: a run of an export (E6), or a PDF Manager batch (P4) kept as a row of the same
    table, so that everything Recent Files does for files (order, paging, counts, states, superseding, history,
    notifications, polling) does it for batches too. An Export row of kind PDF_BATCH is the PDF Manager template
    batches are made from. WebAdMIT numbers files and batches (and exports and templates) in separate spaces: a
    WebAdMIT id names a row only together with its identity and kind."""

    EXPORT = "export", "Export file"
    PDF_BATCH = "pdf_batch", "PDF Manager batch"

    @property
    def plural(self) -> str:
        """ "PDF Manager batches": the label of a list of them (the kind filter's choices)."""
        return f"{self.label}es" if self.label.endswith("batch") else f"{self.label}s"

    @property
    def short(self) -> str:
        """The word a batch's name starts with on a row ("PDF · Transcripts"); export files, most rows, none."""
        return "PDF" if self is Kind.PDF_BATCH else ""


# The same two kinds, as an Export row is one: an export, or the template of a kind's batches.
DEFINITION_KINDS = [(Kind.EXPORT.value, "Export"), (Kind.PDF_BATCH.value, "PDF Manager template")]


def runs_of(identity_id: int, kind: str, export_webadmit_id: int) -> QuerySet[ExportFile]:
    """An export's runs (a template's batches) by identity, kind and WebAdMIT's export id (file_export_runs_idx):
    counted even before E3 (or P1) has named the export, and never another kind's with the same id."""
    return ExportFile.objects.filter(identity_id=identity_id, kind=kind, export_webadmit_id=export_webadmit_id)


# What the admin accepts, so that no value the scheduler divides by or adds to a date can stop it.
MAX_RATE_LIMIT_PER_HOUR = 1_000_000
MAX_FAST_INTERVAL = 3600  # an hour: slower than that, the file is not "running" in any useful sense
MAX_SLOW_INTERVAL = 86400  # a day


def _at_least_one_second(field: str) -> MinValueValidator:
    return MinValueValidator(1, f"The {field} cadence is at least 1 second (leave it blank for the site default).")


def default_rate_limit_per_hour() -> int:
    """New credentials start from the site-wide budget (WEBADMIT_RATE_LIMIT_PER_HOUR); each can override it."""
    return settings.WEBADMIT_RATE_LIMIT_PER_HOUR


class Credential(models.Model):
    """One WebAdMIT API key (one WebAdMIT user), covering all of that user's identities."""

    class Health(models.TextChoices):
        UNCHECKED = "unchecked", "Not checked yet"
        OK = "ok", "OK"
        KEY_REJECTED = "key_rejected", "Key rejected"
        UNREACHABLE = "unreachable", "WebAdMIT unreachable"

    name = models.CharField(max_length=100, unique=True, help_text="A name staff will recognise, e.g. 'Nursing'.")
    base_url = models.CharField(
        "WebAdMIT address",
        max_length=200,
        default="https://api.webadmit.org",
        validators=[validate_webadmit_base_url],
        help_text="https://api.webadmit.org, https://prelaunch.webadmit.org, or your organisation's domain.",
    )
    # The key itself is only ever stored encrypted; the last four characters let staff tell keys apart.
    api_key_encrypted = models.TextField(editable=False)
    api_key_last4 = models.CharField(max_length=4, editable=False)
    rate_limit_per_hour = models.PositiveIntegerField(
        default=default_rate_limit_per_hour,
        validators=[
            MinValueValidator(1, "WebAdMIT allows at least 1 call an hour (5,000 today)."),
            MaxValueValidator(
                MAX_RATE_LIMIT_PER_HOUR, f"At most {MAX_RATE_LIMIT_PER_HOUR:,} calls an hour (WebAdMIT allows 5,000)."
            ),
        ],
        help_text="WebAdMIT's call budget for this key (5,000 per hour today).",
    )
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNCHECKED)
    last_error = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # The scheduler's view of the shared budget: the last X-RateLimit-Remaining and when WebAdMIT said it.
    rate_limit_remaining = models.IntegerField(null=True, blank=True, editable=False)
    rate_limit_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    backoff_until = models.DateTimeField(null=True, blank=True, editable=False)
    # How much the scheduler stretches this key's cadences to stay within its budget (1.0 = not at all). The
    # dispatcher recomputes it from the identities' demand; each refresh reads it with the credential it already
    # loads, so scheduling the next refresh needs no aggregate query.
    cadence_factor = models.FloatField(default=1.0, editable=False)
    # Seconds between refreshes of a settled identity that the key's settled share allows now (the dispatcher's).
    settled_interval = models.FloatField(null=True, blank=True, editable=False)
    # A rejected key is checked again by itself at next_check_at (one cheap call); each failed check doubles the wait.
    next_check_at = models.DateTimeField(null=True, blank=True, editable=False)
    failed_checks = models.PositiveIntegerField(default=0, editable=False)
    # While WebAdMIT does not answer this key, Download and Run again are answered at once until then (a circuit
    # breaker kept in the row, so that every web server process sees it).
    circuit_open_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.base_url = normalise_base_url(self.base_url)
        super().save(*args, **kwargs)

    def set_api_key(self, api_key: str) -> None:
        api_key = api_key.strip()
        self.api_key_encrypted = crypto.encrypt(api_key)
        self.api_key_last4 = api_key[-4:]

    def get_api_key(self) -> str:
        return crypto.decrypt(self.api_key_encrypted)

    @property
    def masked_api_key(self) -> str:
        return f"••••••••{self.api_key_last4}" if self.api_key_last4 else "(not set)"


class IdentityNames:
    """How an identity is named, for the model and for the plain rows the pages read (`web.common.IdentityRow`)."""

    label: str
    association: str
    organization: str
    institution: str
    cycle: str
    webadmit_id: int

    @property
    def title(self) -> str:
        """The identity's name without its cycle (the label if staff gave one), where the cycle is shown apart."""
        if self.label:
            return self.label
        parts = [part for part in (self.association, self.organization or self.institution) if part]
        return " · ".join(parts) or f"Identity {self.webadmit_id}"

    @property
    def display_name(self) -> str:
        """The identity's whole name: "SOPHAS · School of Public Health · 2026 - 2027", or its label."""
        if self.label or not self.cycle:
            return self.title
        return f"{self.title} · {self.cycle}"


class UserIdentity(IdentityNames, models.Model):
    """One person's access to one CAS cycle in WebAdMIT; the unit that files are listed and refreshed by."""

    ErrorKind = ErrorKind  # the error vocabulary (core.problems), where models and forms expect it

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="identities")
    webadmit_id = models.BigIntegerField("WebAdMIT identity id")
    type = models.CharField(max_length=100, blank=True)
    association = models.CharField(max_length=200, blank=True, help_text="The CAS, e.g. SOPHAS.")
    institution = models.CharField(max_length=200, blank=True)
    organization = models.CharField(max_length=200, blank=True)
    cycle = models.CharField(max_length=50, blank=True, help_text="e.g. 2026 - 2027")
    label = models.CharField(max_length=200, blank=True, help_text="Optional name shown instead of the CAS.")
    enabled = models.BooleanField(default=True, help_text="Disabled identities are neither refreshed nor shown.")
    watch_pdf_batches = models.BooleanField(
        "Watch PDF Manager batches",
        default=False,
        help_text="List this identity's PDF Manager batches on Recent Files beside its export files. Every refresh "
        "then makes one more WebAdMIT call (counted in the key's hourly budget).",
    )
    missing_upstream_since = models.DateTimeField(
        null=True, blank=True, help_text="Set when the credential's identity list stopped including this one."
    )
    # Cadence overrides (seconds); blank uses WEBADMIT_FAST_INTERVAL, and for settled identities the cadence the
    # key's budget allows (see engine.schedule).
    fast_interval = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[
            _at_least_one_second("running"),
            MaxValueValidator(MAX_FAST_INTERVAL, f"The running cadence is at most {MAX_FAST_INTERVAL} seconds."),
        ],
        help_text="Seconds while files run.",
    )
    slow_interval = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[
            _at_least_one_second("settled"),
            MaxValueValidator(MAX_SLOW_INTERVAL, f"The settled cadence is at most {MAX_SLOW_INTERVAL} seconds."),
        ],
        help_text="Seconds when all are settled; blank: as often as the key's budget allows.",
    )
    # Refresh state, written by the engine.
    paused = models.BooleanField(default=False, help_text="Refreshes stop until the problem is fixed.")
    next_refresh_at = models.DateTimeField(null=True, blank=True)
    refresh_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    refreshing_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    exports_synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The latest E3 call, answered or not: E3 is asked at most once a minute, even while it keeps failing.
    exports_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The latest P1 call (PDF Manager's templates), answered or not: asked at most once a minute, as E3 is.
    templates_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    run_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    error_kind = models.CharField(max_length=20, choices=ErrorKind.choices, blank=True, default="")
    error_message = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # The global change sequence at this identity's latest visible change (files or state): pages poll on it.
    change_seq = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "user identity"
        verbose_name_plural = "user identities"
        ordering = ["association", "organization", "cycle"]
        constraints = [
            models.UniqueConstraint(fields=["credential", "webadmit_id"], name="identity_unique_per_credential")
        ]
        indexes = [
            models.Index(fields=["enabled", "paused", "next_refresh_at"], name="identity_due_idx"),
            models.Index(fields=["change_seq"], name="identity_change_seq_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name


class Export(models.Model):
    """A named export (report definition) of one identity, where file names and formats come from (E3); or, of kind
    PDF_BATCH, a PDF Manager template, where batches' names come from (P1)."""

    identity = models.ForeignKey(UserIdentity, on_delete=models.CASCADE, related_name="exports")
    kind = models.CharField(max_length=12, choices=DEFINITION_KINDS, default=Kind.EXPORT)
    webadmit_id = models.BigIntegerField("WebAdMIT export id")
    name = models.CharField(max_length=300)
    list_type = models.CharField(max_length=100, blank=True)
    format = models.CharField(max_length=100, blank=True)
    mime_type = models.CharField(max_length=100, blank=True)
    # A template's: whose applicants (the list) and which of their documents. Blank for an export, whose own four
    # fields above are blank for a template: two columns cost less than a table joined to every row that shows one.
    list_name = models.CharField(max_length=300, blank=True)
    document_source_title = models.CharField(max_length=300, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["identity", "kind", "webadmit_id"], name="export_unique_per_identity")
        ]

    def __str__(self) -> str:
        return self.name

    def runs(self) -> QuerySet[ExportFile]:
        """Its runs (a template's batches), named by E3 (or P1) yet or not."""
        return runs_of(self.identity_id, self.kind, self.webadmit_id)


class ExportFile(models.Model):
    """One run of an export, as listed by WebAdMIT's Recent Files (E6); or, of kind PDF_BATCH, one PDF Manager batch
    (P4): its status the FileStatus of its state's word, its export its template (engine.pdf_batches)."""

    identity = models.ForeignKey(UserIdentity, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.EXPORT)
    webadmit_id = models.BigIntegerField("WebAdMIT file id")
    # The export id exactly as WebAdMIT gave it (never rebuilt from the href); `export` links it once E3 named it.
    # A batch's is its template's id, linked once P1 named it.
    export_webadmit_id = models.BigIntegerField("WebAdMIT export id")
    export = models.ForeignKey(Export, on_delete=models.SET_NULL, null=True, blank=True, related_name="files")
    href = models.CharField(max_length=300)
    status = models.CharField(max_length=24, choices=STATUS_CHOICES)
    raw_status = models.CharField(max_length=100, help_text="The status text exactly as WebAdMIT sent it.")
    first_seen_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)
    gone_at = models.DateTimeField(
        null=True, blank=True, help_text="When WebAdMIT stopped listing this file (it keeps recent runs only)."
    )
    change_seq = models.BigIntegerField(default=0, editable=False)
    # The later run of the same export that ended well (Available or Success With Errors), once there is one, for a
    # run that did not end well (failed, matched no one, or never finished): nobody needs to look at it any more.
    # Written by the engine's apply step in the transaction that makes it true, so the dashboard can sort and count
    # superseded files without looking at their siblings.
    superseded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="supersedes"
    )
    # A person said they have seen this failure: it no longer needs attention (who and when are kept).
    acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    # A delivery of this file failed for good and it has not been delivered there since (collection writes it): the
    # file needs attention, on every surface that counts attention.
    delivery_failed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Files needing attention (NEEDS_ATTENTION) sort first on the dashboard; a stored column keeps that order
    # indexable.
    attention_rank = models.GeneratedField(
        expression=Case(When(NEEDS_ATTENTION, then=Value(0)), default=Value(1)),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    # The list's status and finished orders (web/sorting.py) lead with these, stored so that an index holds them:
    # ordered by a CASE instead, SQLite (which matches an index's expression only when the query writes it the same,
    # and Django sends its values as parameters) sorted every file to show 50.
    # 1 while the run is going (RUNNING: "finished, newest first" lists those first), 0 once it has an outcome.
    finished_rank = models.GeneratedField(
        expression=Case(When(status__in=[status.value for status in RUNNING], then=Value(1)), default=Value(0)),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    # The status's place when the rows' words for it are sorted A to Z (Available, Empty List, Failed, ...).
    status_rank = models.GeneratedField(
        expression=Case(
            *(When(status=status.value, then=Value(place)) for place, status in enumerate(STATUSES_BY_LABEL)),
            default=Value(len(STATUSES_BY_LABEL)),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["attention_rank", "-first_seen_at", "-webadmit_id"]
        constraints = [
            models.UniqueConstraint(fields=["identity", "kind", "webadmit_id"], name="file_unique_per_identity")
        ]
        indexes = [
            models.Index(fields=["identity", "status"], name="file_identity_status_idx"),
            # An export's runs, oldest to newest (runs_of): the file page's siblings and the apply step's superseding.
            models.Index(fields=["identity", "kind", "export_webadmit_id", "webadmit_id"], name="file_export_runs_idx"),
            models.Index(fields=["status"], name="file_status_idx"),
            models.Index(fields=["attention_rank", "-first_seen_at", "-webadmit_id"], name="file_dashboard_order_idx"),
            # The list's orders (web/sorting.py), each read from one end of its index and stopping after a page:
            # first seen, either way;
            models.Index(fields=["first_seen_at", "webadmit_id", "id"], name="file_first_seen_order_idx"),
            # finished, either way (oldest first, its ties on a moment are sorted apart: few);
            models.Index(
                fields=["finished_rank", "status_changed_at", "first_seen_at", "webadmit_id", "id"],
                name="file_finished_order_idx",
            ),
            # status A to Z, and Z to A (read backwards), each with the newest first within a status.
            models.Index(fields=["status_rank", "-first_seen_at", "-webadmit_id", "-id"], name="file_status_order_idx"),
            models.Index(
                fields=["status_rank", "first_seen_at", "webadmit_id", "id"], name="file_status_desc_order_idx"
            ),
            # The export and identity orders sort by a joined name and by a rank given per page (the identities a
            # person may see): they have none, and sort what the filters keep.
            models.Index(fields=["change_seq"], name="file_change_seq_idx"),
            models.Index(fields=["gone_at"], name="file_gone_idx", condition=Q(gone_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"File {self.webadmit_id} ({self.get_status_display()})"

    @property
    def status_enum(self) -> FileStatus:
        return FileStatus(self.status)

    def export_runs(self) -> QuerySet[ExportFile]:
        """The runs of its export (this one included), or the batches of its template."""
        return runs_of(self.identity_id, self.kind, self.export_webadmit_id)

    @property
    def kind_enum(self) -> Kind:
        return Kind(self.kind)

    @property
    def is_batch(self) -> bool:
        return self.kind == Kind.PDF_BATCH

    @property
    def export_name(self) -> str:
        """The name of its export (or template): the export's, or its id until E3 (or P1) has named it."""
        if self.export:
            return self.export.name
        return f"{'Template' if self.is_batch else 'Export'} {self.export_webadmit_id}"

    @property
    def title(self) -> str:
        """The name people read for this file on pages and in messages: its export's, and for a batch "PDF ·
        <template>", so that a batch never reads as an export's file."""
        short = self.kind_enum.short
        return f"{short} · {self.export_name}" if short else self.export_name

    @property
    def needs_attention(self) -> bool:
        """NEEDS_ATTENTION, for a file already loaded."""
        if self.delivery_failed_at is not None:
            return True
        if self.superseded_by_id is not None:
            return False
        return self.status_enum in RUNNING or (self.status == FileStatus.FAILED and self.acknowledged_at is None)


class BatchZip(models.Model):
    """One zip of a PDF Manager batch (P5's `download_hrefs`): WebAdMIT cuts a batch's documents into zips of up to
    1 GB. Read once, when the engine first sees the batch downloadable; a zip's short-lived link (P6) is asked for
    only when someone fetches it, never stored."""

    export_file = models.ForeignKey(
        ExportFile, on_delete=models.CASCADE, related_name="zips", limit_choices_to={"kind": Kind.PDF_BATCH}
    )
    zip_webadmit_id = models.BigIntegerField("WebAdMIT zip file id")
    part = models.PositiveSmallIntegerField(help_text="Its place among the batch's zips, from 1, in WebAdMIT's order.")
    parts = models.PositiveSmallIntegerField(help_text="How many zips the batch has.")

    class Meta:
        verbose_name = "PDF Manager batch zip"
        ordering = ["export_file", "part"]
        constraints = [models.UniqueConstraint(fields=["export_file", "zip_webadmit_id"], name="batch_zip_unique")]

    def __str__(self) -> str:
        return f"Zip {self.zip_webadmit_id} ({self.part} of {self.parts})"


class StatusChange(models.Model):
    """One observed transition of a file's status: the history behind 'queued for 12 min'."""

    export_file = models.ForeignKey(ExportFile, on_delete=models.CASCADE, related_name="status_changes")
    old_status = models.CharField(max_length=24, choices=STATUS_CHOICES, blank=True)
    new_status = models.CharField(max_length=24, choices=STATUS_CHOICES)
    raw_status = models.CharField(max_length=100)
    changed_at = models.DateTimeField(default=timezone.now)
    # The outbox of notifications: written NULL in the transaction that records the transition, stamped once the
    # transition has been turned into notifications (in that job's own transaction). A flag rather than an id
    # cursor, because ids commit out of order on PostgreSQL: a reader past id N could miss N-1 committed later.
    fanned_out_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["changed_at"], name="status_change_time_idx"),
            # Holds only the rows not fanned out yet: a handful at any time, so finding them costs nothing.
            models.Index(fields=["id"], name="status_change_outbox_idx", condition=Q(fanned_out_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.old_status or '∅'} → {self.new_status}"


class DownloadEvent(models.Model):
    """Audit of every Download click: who, which file, when, and what happened."""

    Outcome = DownloadOutcome  # the error vocabulary's download outcomes (core.problems)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    export_file = models.ForeignKey(ExportFile, on_delete=models.SET_NULL, null=True, related_name="downloads")
    file_webadmit_id = models.BigIntegerField("WebAdMIT file id")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} · file {self.file_webadmit_id} · {self.get_outcome_display()}"


class RunRequest(models.Model):
    """Audit of every run started here: by a person (Run again) or by a schedule, from which file, when, and which
    run WebAdMIT returned (or why not); and, when WebAdMIT was asked to call back, the token of that call."""

    class Source(models.TextChoices):
        RUN_AGAIN = "run_again", "Run again"
        SCHEDULE = "schedule", "Schedule"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    identity = models.ForeignKey(UserIdentity, on_delete=models.CASCADE, related_name="+")
    # The file whose Run again was used, and its ids, which outlive the row once WebAdMIT drops the file.
    requested_from = models.ForeignKey(
        ExportFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="run_requests"
    )
    file_webadmit_id = models.BigIntegerField("WebAdMIT file id asked from", null=True, blank=True)
    export_webadmit_id = models.BigIntegerField("WebAdMIT export id")
    # The run WebAdMIT answered with (None when it refused), and its row here.
    run = models.ForeignKey(ExportFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="started_by")
    run_webadmit_id = models.BigIntegerField("WebAdMIT file id started", null=True, blank=True)
    # WebAdMIT answers a start of an export that is still running with the run already under way.
    already_running = models.BooleanField(default=False)
    message = models.TextField(blank=True, help_text="Why WebAdMIT refused, when it did.")
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.RUN_AGAIN)
    # What started it when no person did: the schedule's words ("Nightly at 06:00"), kept after it is deleted.
    source_label = models.CharField(max_length=200, blank=True)
    # The unguessable part of the callback URL WebAdMIT was given (WEBADMIT_CALLBACKS), and when it first called.
    callback_token = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    callback_received_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        started = f"run {self.run_webadmit_id}" if self.run_webadmit_id else "refused"
        return f"{self.user} · export {self.export_webadmit_id} · {started}"


class IdentityGrant(models.Model):
    """Lets one user, or every member of one group, see an identity's files."""

    identity = models.ForeignKey(UserIdentity, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="identity_grants"
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, null=True, blank=True, related_name="identity_grants")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False),
                name="grant_to_user_or_group",
                violation_error_message="Grant access to either a user or a group (exactly one).",
            ),
            models.UniqueConstraint(fields=["identity", "user"], name="grant_unique_user"),
            models.UniqueConstraint(fields=["identity", "group"], name="grant_unique_group"),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.group} → {self.identity}"


class GroupGrantRule(models.Model):
    """Lets every member of a group see every identity whose association and cycle match, including identities
    WebAdMIT adds later (each cycle brings new ones). A blank field matches any value."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="identity_grant_rules")
    association = models.CharField(max_length=200, blank=True, help_text="e.g. PTCAS; blank for every association.")
    cycle = models.CharField(max_length=50, blank=True, help_text="e.g. 2026 - 2027; blank for every cycle.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "association", "cycle"], name="grant_rule_unique"),
            models.CheckConstraint(
                condition=~Q(association="", cycle=""),
                name="grant_rule_names_something",
                violation_error_message="Name an association, a cycle or both (a rule for everything is not a rule).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.association or 'any association'} · {self.cycle or 'any cycle'}"


class UserPreference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="Blank shows times in the institution's zone (TIME_ZONE)."
    )
    absolute_times = models.BooleanField(
        "Clock times only",
        default=False,
        help_text='Show "Tue 09:42" without "3 h ago" beside it.',
    )
    # "New since you last looked": when this user's current visit to Recent Files began, and when the one before it
    # did. A visit is a run of page views with no gap longer than VISIT_GAP (web.visits).
    visit_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    previous_visit_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"Preferences of {self.user}"


class ChangeCounter(models.Model):
    """A single row whose value orders every visible change; pages poll with the last value they saw.

    Taking the next value updates this row inside the writing transaction, so values commit in order and a
    poll can never skip a change committed later with a smaller number.
    """

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"Change #{self.value}"

    @classmethod
    def next_value(cls) -> int:
        """Takes the next value; call it inside the transaction that writes the change it numbers."""
        if not cls.objects.filter(pk=1).update(value=models.F("value") + 1):
            cls.objects.get_or_create(pk=1, defaults={"value": 0})
            cls.objects.filter(pk=1).update(value=models.F("value") + 1)
        value: int = cls.objects.values_list("value", flat=True).get(pk=1)
        return value

    @classmethod
    def current(cls) -> int:
        """The last value taken (0 before the first): what an unchanged poll compares (web/poll_gate.py), read with
        one plain SELECT, as that poll is most of the web server's requests and the ORM's query building costs
        more than the query."""
        with connection.cursor() as cursor:
            # The table name is the model's own, quoted by the backend: no outside value reaches this SQL.
            cursor.execute(f"SELECT value FROM {connection.ops.quote_name(cls._meta.db_table)} WHERE id = 1")  # noqa: S608
            row = cursor.fetchone()
        return int(row[0]) if row else 0


class EngineHeartbeat(models.Model):
    """When the beat-driven dispatcher last ran, so pages can say when the worker or beat has stopped."""

    DISPATCHER = "dispatcher"

    name = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def last_beat(cls, name: str = DISPATCHER) -> datetime | None:
        return cls.objects.filter(name=name).values_list("beat_at", flat=True).first()
