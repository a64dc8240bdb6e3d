"""What schedules know: when each export is run here (Schedule), each start a schedule made (ScheduledRun, linked to
the audit every start has), and what the watchdog expects of an export (Expectation) with each miss (Missing)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from webadmit_dash.core.models import Export, ExportFile, RunRequest
from webadmit_dash.schedules import timing


class Schedule(models.Model):
    """When an export is run by the dashboard, in the institution's time zone (TIME_ZONE): at given times every day
    or on weekdays, or on a cron expression."""

    class Kind(models.TextChoices):
        DAILY = "daily", "Every day"
        WEEKDAYS = "weekdays", "Weekdays (Monday to Friday)"
        CRON = "cron", "Cron expression"

    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="schedules")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DAILY)
    times = models.CharField(
        max_length=200, blank=True, help_text="Every day or weekdays: times of day, e.g. '06:00' or '06:00, 13:00'."
    )
    cron = models.CharField(
        max_length=100, blank=True, help_text="Cron expression: minute hour day-of-month month day-of-week."
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The next slot, computed by the dispatcher when the schedule is saved and after each slot is dealt with.
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_outcome = models.CharField(max_length=20, blank=True, editable=False)
    last_message = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["export__name", "pk"]

    def __str__(self) -> str:
        return f"{self.export}: {self.get_kind_display()} {self.cron if self.kind == self.Kind.CRON else self.times}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Every save (the admin, the per-export form, a shell) plans the next slot from what was saved, so a new
        or changed schedule never runs on a stale time; the dispatcher moves it on with conditional updates."""
        update_fields = kwargs.get("update_fields")
        if (update_fields is None or "next_run_at" in update_fields) and self._timing_changed():
            self.next_run_at = timing.next_slot(self, timezone.now()) if self.enabled else None
        super().save(*args, **kwargs)

    def _timing_changed(self) -> bool:
        """Whether what decides the slots changed since the row was read: a save that changed nothing of it (a
        second save in the admin, seconds after 06:00 and before beat's turn) must not move a due slot away."""
        if self.pk is None or self.next_run_at is None:
            return True
        saved = Schedule.objects.filter(pk=self.pk).values("kind", "times", "cron", "enabled").first()
        return saved != {"kind": self.kind, "times": self.times, "cron": self.cron, "enabled": self.enabled}

    def clean(self) -> None:
        """What was typed, checked and tidied (ValidationError in words, keyed by the field at fault): every form
        (the admin's, the per-export page's) refuses a schedule that would not run or would run at a wrong time."""
        self.times, self.cron = timing.validate(self.kind, self.times, self.cron)

    @property
    def words(self) -> str:
        return timing.describe(self)


class ScheduledRun(models.Model):
    """One slot of a schedule dealt with: the run it started (its RunRequest, the same audit as Run again) or why
    none was (refused, or skipped as too late after downtime). One per schedule and slot: never started twice."""

    class Outcome(models.TextChoices):
        STARTED = "started", "Started"
        REFUSED = "refused", "Refused"
        SKIPPED = "skipped", "Skipped (missed while stopped)"

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    slot = models.DateTimeField(help_text="The time the schedule named.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    message = models.TextField(blank=True)
    run_request = models.OneToOneField(
        RunRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="scheduled_run"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-slot"]
        constraints = [models.UniqueConstraint(fields=["schedule", "slot"], name="scheduled_run_once_per_slot")]

    def __str__(self) -> str:
        return f"{self.schedule} at {self.slot:%Y-%m-%d %H:%M} ({self.get_outcome_display()})"


class Expectation(models.Model):
    """What the watchdog expects of an export: a good run (Available or Success With Errors) by a time of day, every
    day or on weekdays, in the institution's time zone. Made from a schedule by default (its time plus the export's
    usual duration); it needs no schedule here, so exports run by WebAdMIT's own Schedule Manager are watched too."""

    class Days(models.TextChoices):
        DAILY = "daily", "Every day"
        WEEKDAYS = "weekdays", "Weekdays (Monday to Friday)"

    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="expectations")
    by_time = models.TimeField(help_text="A good run is expected by this time of day.")
    days = models.CharField(max_length=10, choices=Days.choices, default=Days.WEEKDAYS)
    schedule = models.ForeignKey(
        Schedule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="expectations",
        help_text="The schedule it was made from, if any.",
    )
    enabled = models.BooleanField(default=True)
    # The last deadline the watchdog looked at, so each is judged once.
    checked_through = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["export__name", "by_time"]

    def __str__(self) -> str:
        return f"{self.export}: a good run by {self.by_time:%H:%M}, {self.days_words}"

    @property
    def days_words(self) -> str:
        """ "every day" or "weekdays (Monday to Friday)": the choice's label, its first letter lowered."""
        label = str(self.get_days_display())
        return label[:1].lower() + label[1:]


class Missing(models.Model):
    """One deadline passed with no good run since the previous one: told once (notifications read `told_at`), and
    its all-clear once the file arrives late (`arrived` then `cleared_told_at`)."""

    expectation = models.ForeignKey(Expectation, on_delete=models.CASCADE, related_name="misses")
    expected_by = models.DateTimeField()
    detected_at = models.DateTimeField()
    arrived = models.ForeignKey(ExportFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    arrived_at = models.DateTimeField(null=True, blank=True)
    told_at = models.DateTimeField(null=True, blank=True, editable=False)
    cleared_told_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-expected_by"]
        constraints = [models.UniqueConstraint(fields=["expectation", "expected_by"], name="missing_once_per_deadline")]
        indexes = [
            models.Index(fields=["expected_by"], name="missing_open_idx", condition=Q(arrived_at__isnull=True)),
        ]

    def __str__(self) -> str:
        state = f"arrived {self.arrived_at:%H:%M}" if self.arrived_at else "nothing yet"
        return f"{self.expectation.export}: expected by {self.expected_by:%Y-%m-%d %H:%M}, {state}"


class CallbackWindow(models.Model):
    """How many callback calls one address made in its current minute (WEBADMIT_CALLBACKS_PER_MINUTE). In the
    database, not a process's memory: every web process counts the same calls, and a restart forgets nothing."""

    # As accounts.peers.client_address gives it; "" for a request with none (a test, a shell).
    address = models.CharField(max_length=45, unique=True)
    started_at = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.address or 'no address'}: {self.calls} since {self.started_at:%H:%M:%S}"
