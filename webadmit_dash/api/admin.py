from django.contrib import admin
from django.http import HttpRequest

from webadmit_dash.api.models import ApiToken
from webadmit_dash.shared.admin_base import SiteModelAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(SiteModelAdmin):
    """Read-only: an administrator can see who has tokens and revoke them (by setting Revoked at), never read or
    delete one."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("user", "name", "prefix", "digest", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # A token's row is the record of who could read what, and when it was last used: revoke it instead.
        return False
