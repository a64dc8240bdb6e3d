"""The admin of the watchdog: expectations (made by hand, or from a schedule by default) and the misses it found
(inspectable, never edited: the watchdog and the notifications write them). Registered from the app's ready()."""

from __future__ import annotations

from django.contrib import admin

from webadmit_dash.schedules.models import Expectation, Missing
from webadmit_dash.shared.admin_base import ReadOnlyAdmin, SiteModelAdmin


@admin.register(Expectation)
class ExpectationAdmin(SiteModelAdmin):
    list_display = ["export", "identity", "by_time", "days", "enabled", "schedule", "checked_through"]
    list_filter = ["enabled", "days", "export__identity__association"]
    search_fields = ["export__name"]
    list_select_related = ["export__identity", "schedule__export"]
    autocomplete_fields = ["export"]
    raw_id_fields = ["schedule"]
    readonly_fields = ["checked_through", "created_at"]

    @admin.display(ordering="export__identity__association")
    def identity(self, expectation: Expectation) -> str:
        return expectation.export.identity.display_name


@admin.register(Missing)
class MissingAdmin(ReadOnlyAdmin):
    list_display = ["expectation", "expected_by", "detected_at", "arrived_at", "told_at", "cleared_told_at"]
    list_filter = [("arrived_at", admin.EmptyFieldListFilter), "expectation__export__identity__association"]
    search_fields = ["expectation__export__name"]
    list_select_related = ["expectation__export"]
    date_hierarchy = "expected_by"
