"""The admin of schedules (what each runs, in words, and what became of its last slot) and of their records."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from webadmit_dash.schedules import timing
from webadmit_dash.schedules.models import Schedule, ScheduledRun
from webadmit_dash.shared.admin_base import ReadOnlyAdmin, SiteModelAdmin


@admin.register(Schedule)
class ScheduleAdmin(SiteModelAdmin):
    list_display = ["export", "identity", "in_words", "enabled", "next_run_at", "last_run_at", "last_outcome"]
    list_filter = ["enabled", "kind", "last_outcome"]
    list_select_related = ["export__identity"]
    search_fields = ["export__name", "times", "cron"]
    autocomplete_fields = ["export"]
    readonly_fields = ["in_words", "next_run_at", "last_run_at", "last_outcome", "last_message", "created_by"]
    fields = ["export", "kind", "times", "cron", "enabled", *readonly_fields]

    @admin.display(description="Identity")
    def identity(self, obj: Schedule) -> str:
        return str(obj.export.identity)

    @admin.display(description="Runs")
    def in_words(self, obj: Schedule) -> str:
        if obj.pk is None:
            return "-"
        return f"{timing.describe(obj)} ({timing.zone().key})"

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        if not change and request.user.is_authenticated:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ScheduledRun)
class ScheduledRunAdmin(ReadOnlyAdmin):
    list_display = ["schedule", "slot", "outcome", "message", "run_request"]
    list_filter = ["outcome"]
    list_select_related = ["schedule__export", "run_request"]
    date_hierarchy = "slot"
