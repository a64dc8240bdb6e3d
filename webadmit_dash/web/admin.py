"""The admin: where credentials, identities and access are configured, and everything else inspected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from webadmit_dash.core.models import (
    BatchZip,
    Credential,
    DownloadEvent,
    Export,
    ExportFile,
    IdentityGrant,
    Kind,
    RunRequest,
    StatusChange,
    UserIdentity,
    UserPreference,
)
from webadmit_dash.core.validators import validate_api_key
from webadmit_dash.engine import credentials, new_key, on_demand
from webadmit_dash.shared.admin_base import ReadOnlyAdmin, SiteModelAdmin
from webadmit_dash.web.key_words import NEW_KEY_ATTRIBUTE, key_check_words

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise
from webadmit_dash.web.access_admin import grant_to_group
from webadmit_dash.webadmit.errors import WebAdmitError

admin.site.site_header = "webadmit-dash administration"
admin.site.site_title = "webadmit-dash admin"
admin.site.index_title = "Credentials, identities and access"


class CredentialForm(forms.ModelForm[Credential]):
    # Write-only: the stored key is never rendered back, not even into the password input's value. The form shows
    # it once: this input, with the masked current key (last four characters) as its help.
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="The key from WebAdMIT (usually 32 letters and digits).",
    )

    class Meta:
        model = Credential
        fields = ["name", "base_url", "api_key", "rate_limit_per_hour"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.api_key_encrypted:
            self.fields[
                "api_key"
            ].help_text = (
                f"Current key: {self.instance.masked_api_key}. Enter a new one to replace it; leave blank to keep it."
            )

    def clean_api_key(self) -> str:
        api_key: str = self.cleaned_data["api_key"]
        if not api_key and not self.instance.api_key_encrypted:
            raise forms.ValidationError("Enter the API key for this credential.")
        if api_key:
            validate_api_key(api_key)
        return api_key

    def save(self, commit: bool = True) -> Credential:
        credential = super().save(commit=False)
        new_key = self.cleaned_data.get("api_key")
        if new_key:
            credential.set_api_key(new_key)
        if commit:
            credential.save()
        return credential


# What the engine writes on a credential: shown read-only, and only once it has something to say.
CREDENTIAL_ENGINE_FIELDS = (
    "health",
    "last_error",
    "last_checked_at",
    "next_check_at",
    "rate_limit_remaining",
    "settled_interval",
    "circuit_open_until",
)


@admin.register(Credential)
class CredentialAdmin(SiteModelAdmin):
    form = CredentialForm
    list_display = ["name", "base_url", "masked_api_key", "health", "last_checked_at", "identity_count"]
    list_filter = ["health"]
    search_fields = ["name"]
    actions = ["test_connection", "import_identities"]

    def _engine_fields(self, credential: Credential | None) -> tuple[str, ...]:
        """The engine's fields that have a value: none on a new credential, "Not checked yet" until a check."""
        if credential is None or credential.pk is None:
            return ()
        return tuple(
            name
            for name in CREDENTIAL_ENGINE_FIELDS
            if getattr(credential, name) not in (None, "")
            and not (name == "health" and credential.health == Credential.Health.UNCHECKED)
        )

    def get_fields(self, request: HttpRequest, obj: Credential | None = None) -> tuple[str, ...]:
        return (*CredentialForm.Meta.fields, *self._engine_fields(obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Credential | None = None) -> tuple[str, ...]:
        return self._engine_fields(obj)

    @admin.display(description="API key")
    def masked_api_key(self, credential: Credential) -> str:
        return credential.masked_api_key

    @admin.display(description="Identities")
    def identity_count(self, credential: Credential) -> int:
        return credential.identities.count()

    def save_model(self, request: HttpRequest, obj: Credential, form: CredentialForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("api_key"):
            # Checked once the save is committed (changeform_view): a slow WebAdMIT must not hold the transaction.
            setattr(request, NEW_KEY_ATTRIBUTE, obj.pk)

    def message_user(
        self, request: HttpRequest, message: _StrOrPromise, level: int | str = messages.INFO, *args: Any, **kw: Any
    ) -> None:
        # Django's "was changed successfully" would speak before anyone knows whether WebAdMIT takes the new key:
        # the check's own words (changeform_view) say both that it was saved and what WebAdMIT made of it.
        if getattr(request, NEW_KEY_ATTRIBUTE, None) is not None and level == messages.SUCCESS:
            return
        super().message_user(request, message, level, *args, **kw)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().changeform_view(request, object_id, form_url, extra_context)
        credential_id = getattr(request, NEW_KEY_ATTRIBUTE, None)
        if credential_id is not None:
            credential = Credential.objects.get(pk=credential_id)
            delattr(request, NEW_KEY_ATTRIBUTE)
            level, words = key_check_words(new_key.check_new_key(credential))
            self.message_user(request, words, level)
        return response

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        for credential in queryset:
            try:
                identities = credentials.test_connection(credential)
            except WebAdmitError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(
                    request, f"'{credential.name}': the key works and sees {len(identities)} user identities."
                )

    @admin.action(description="Import identities")
    def import_identities(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        for credential in queryset:
            try:
                result = credentials.import_identities(credential)
            except WebAdmitError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(request, f"'{credential.name}': identities imported ({result}).")


class IdentityGrantInline(admin.TabularInline[IdentityGrant, UserIdentity]):
    model = IdentityGrant
    extra = 1
    autocomplete_fields = ["user", "group"]
    verbose_name = "who may see this identity"
    verbose_name_plural = "who may see this identity (users or groups)"


# What WebAdMIT supplies of an identity (E1 and the import): read-only once the identity exists.
IDENTITY_FROM_WEBADMIT = (
    "credential",
    "webadmit_id",
    "type",
    "association",
    "institution",
    "organization",
    "cycle",
    "missing_upstream_since",
)


@admin.register(UserIdentity)
class UserIdentityAdmin(SiteModelAdmin):
    list_display = [
        "display_name",
        "webadmit_id",
        "credential",
        "enabled",
        "paused",
        "last_success_at",
        "error_message",
    ]
    list_filter = ["enabled", "paused", "watch_pdf_batches", "error_kind", "credential", "association", "cycle"]
    search_fields = ["label", "association", "organization", "institution", "cycle", "=webadmit_id"]
    list_select_related = ["credential"]
    inlines = [IdentityGrantInline]
    fieldsets = [
        (None, {"fields": ["credential", "webadmit_id", "label", "enabled", "watch_pdf_batches"]}),
        ("From WebAdMIT", {"fields": ["type", "association", "institution", "organization", "cycle"]}),
        ("Refresh cadence (seconds; blank uses the site default)", {"fields": ["fast_interval", "slow_interval"]}),
        (
            "Refresh state",
            {
                "fields": [
                    "paused",
                    "error_kind",
                    "error_message",
                    "consecutive_failures",
                    "last_attempt_at",
                    "last_success_at",
                    "next_refresh_at",
                    "missing_upstream_since",
                ]
            },
        ),
    ]
    readonly_fields = ["error_kind", "error_message", "consecutive_failures", "last_attempt_at", "last_success_at"]
    actions = ["refresh_now", "check_now", grant_to_group]

    def get_readonly_fields(self, request: HttpRequest, obj: UserIdentity | None = None) -> list[str]:
        # What WebAdMIT says of an identity is its to change (the next import writes it again); a person's own
        # words (label, enabled, cadences) stay editable. A hand-made identity names itself once, on its add page.
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, *IDENTITY_FROM_WEBADMIT]

    @admin.action(description="Refresh now")
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[UserIdentity]) -> None:
        identities = list(queryset)
        queued = sum(on_demand.request_refresh(identity) for identity in identities)
        if queued:
            self.message_user(request, f"Refresh queued for {queued} of {len(identities)} identities.")
        if queued < len(identities):
            self.message_user(
                request,
                f"{len(identities) - queued} not queued: a refresh is already queued, the identity is paused or "
                "disabled (fix what its error says, then un-pause it), or WebAdMIT's rate limit is being waited out.",
                messages.WARNING,
            )

    @admin.action(description="Check paused identities now")
    def check_now(self, request: HttpRequest, queryset: QuerySet[UserIdentity]) -> None:
        identities = list(queryset.select_related("credential"))
        checked = sum(on_demand.check_now(identity) for identity in identities)
        if checked:
            self.message_user(request, f"{checked} paused identities (or their key) will be checked within seconds.")
        if checked < len(identities):
            self.message_user(
                request,
                f"{len(identities) - checked} not checked: they are not paused by a WebAdMIT problem (disabled, "
                "not paused, or paused by hand: un-pause those in the identity's page).",
                messages.WARNING,
            )


class StatusChangeInline(admin.TabularInline[StatusChange, ExportFile]):
    model = StatusChange
    extra = 0
    can_delete = False
    readonly_fields = ["old_status", "new_status", "raw_status", "changed_at"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class BatchZipInline(admin.TabularInline[BatchZip, ExportFile]):
    model = BatchZip
    extra = 0
    can_delete = False
    readonly_fields = ["zip_webadmit_id", "part", "parts"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "webadmit_id", "identity", "format", "mime_type", "last_seen_at"]
    list_filter = ["kind", "format"]
    search_fields = ["name", "=webadmit_id"]
    list_select_related = ["identity"]


@admin.register(ExportFile)
class ExportFileAdmin(ReadOnlyAdmin):
    list_display = [
        "webadmit_id",
        "export",
        "identity",
        "status",
        "raw_status",
        "superseded_by",
        "acknowledged_by",
        "first_seen_at",
        "gone_at",
    ]
    list_filter = ["kind", "status", "identity__association", "identity__cycle"]
    search_fields = ["=webadmit_id", "export__name"]
    list_select_related = ["identity", "export", "superseded_by", "acknowledged_by"]
    inlines = [StatusChangeInline]

    def get_inlines(
        self, request: HttpRequest, obj: ExportFile | None
    ) -> list[type[admin.options.InlineModelAdmin[Any, Any]]]:
        # A PDF Manager batch's zips, under its history.
        if obj is not None and obj.kind == Kind.PDF_BATCH:
            return [StatusChangeInline, BatchZipInline]
        return [StatusChangeInline]


def _file_name(export_file: ExportFile | None, webadmit_id: int | None) -> str:
    """A file as people name it: its export's name and the WebAdMIT file id on its rows."""
    if export_file is None:
        return f"File {webadmit_id} (no longer kept here)" if webadmit_id else "-"
    return f"{export_file.export_name} · file {export_file.webadmit_id}"


def _person(user: Any) -> str:
    return str(user.get_full_name() or user.get_username()) if user is not None else "-"


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "file", "identity", "old_status", "new_status", "raw_status"]
    list_filter = ["new_status"]
    list_select_related = ["export_file__export", "export_file__identity"]
    search_fields = ["=export_file__webadmit_id", "export_file__export__name"]
    date_hierarchy = "changed_at"
    fields = readonly_fields = (
        "file",
        "identity",
        "old_status",
        "new_status",
        "raw_status",
        "changed_at",
        "fanned_out_at",
    )

    @admin.display(description="File")
    def file(self, change: StatusChange) -> str:
        return _file_name(change.export_file, None)

    @admin.display(description="Identity")
    def identity(self, change: StatusChange) -> str:
        return change.export_file.identity.display_name


@admin.register(DownloadEvent)
class DownloadEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "who", "file", "identity", "outcome", "message"]
    list_filter = ["outcome"]
    search_fields = ["=file_webadmit_id", "user__username", "export_file__export__name"]
    list_select_related = ["user", "export_file__export", "export_file__identity"]
    date_hierarchy = "created_at"
    fields = readonly_fields = ("created_at", "who", "file", "identity", "outcome", "message")

    @admin.display(description="Who", ordering="user__username")
    def who(self, event: DownloadEvent) -> str:
        return _person(event.user)

    @admin.display(description="File")
    def file(self, event: DownloadEvent) -> str:
        return _file_name(event.export_file, event.file_webadmit_id)

    @admin.display(description="Identity")
    def identity(self, event: DownloadEvent) -> str:
        return event.export_file.identity.display_name if event.export_file else "-"


@admin.register(RunRequest)
class RunRequestAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "who", "export", "identity_name", "asked_from", "started", "message"]
    list_filter = ["source", "already_running"]
    search_fields = ["=export_webadmit_id", "=file_webadmit_id", "=run_webadmit_id", "user__username"]
    list_select_related = ["user", "identity", "requested_from__export", "run__export"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "created_at",
        "who",
        "export",
        "identity_name",
        "asked_from",
        "started",
        "already_running",
        "message",
        "callback_received_at",
    )

    @admin.display(description="Who")
    def who(self, request_: RunRequest) -> str:
        if request_.user is not None:
            return _person(request_.user)
        return f"{request_.get_source_display()}: {request_.source_label}" if request_.source_label else "-"

    @admin.display(description="Export")
    def export(self, request_: RunRequest) -> str:
        for export_file in (request_.run, request_.requested_from):
            if export_file is not None and export_file.export is not None:
                return export_file.export.name
        return f"Export {request_.export_webadmit_id}"

    @admin.display(description="Identity", ordering="identity__association")
    def identity_name(self, request_: RunRequest) -> str:
        return request_.identity.display_name

    @admin.display(description="Started from")
    def asked_from(self, request_: RunRequest) -> str:
        if request_.requested_from is None and not request_.file_webadmit_id:
            return "-"
        return _file_name(request_.requested_from, request_.file_webadmit_id)

    @admin.display(description="Run started")
    def started(self, request_: RunRequest) -> str:
        if request_.run_webadmit_id is None:
            return "refused"
        return _file_name(request_.run, request_.run_webadmit_id)


@admin.register(IdentityGrant)
class IdentityGrantAdmin(SiteModelAdmin):
    list_display = ["identity", "user", "group"]
    autocomplete_fields = ["identity", "user", "group"]


@admin.register(UserPreference)
class UserPreferenceAdmin(SiteModelAdmin):
    list_display = ["user", "time_zone"]
    autocomplete_fields = ["user"]
