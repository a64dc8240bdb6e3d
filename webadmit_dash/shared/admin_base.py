"""What every admin page of ours shares, for every app's admin (pages, notifications, API tokens); it imports
nothing of the engine, so apps that must not reach the engine can use it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest


class SiteModelAdmin(admin.ModelAdmin[Any]):
    """What every admin of ours shares: an add form's initial values from the URL are checked first.

    Django's admin fills an add form from the query (?credential=3) without checking it, and some of its widgets
    crash on a value they cannot read (a date that is not a date): values the form's own fields refuse are
    dropped instead, so a hand-edited link opens a blank field rather than a 500.
    """

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        fields = self.get_form(request).base_fields
        checked = {}
        for name, value in initial.items():
            field = fields.get(name)
            if field is None:
                continue
            try:
                checked[name] = field.clean(value)
            except ValidationError:
                continue
        return checked


class ReadOnlyAdmin(SiteModelAdmin):
    """Rows written by the refresh engine or the audit: inspectable, never added, edited or deleted by hand, not even
    by a superuser (the admin then answers those pages, GET or POST, with 403, and offers no delete action).
    Retention prunes them, and deleting one by hand would also take its audit trail (status changes, downloads)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
