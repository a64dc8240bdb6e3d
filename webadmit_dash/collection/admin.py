"""The admin of collection: destinations (their one secret write-only, an SFTP server's host key pinned and shown by
its fingerprint), the rules choosing what is collected and delivered where, and the proof: collected files with their
trail of deliveries, read-only but for the hold, and Deliver again."""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import DateTimeField, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import formats, timezone

from webadmit_dash.collection import delivering, naming
from webadmit_dash.collection.models import CollectedFile, CollectionRule, DeliveryRule, Destination, FileDelivery
from webadmit_dash.shared.admin_base import ReadOnlyAdmin, SiteModelAdmin

Kind = Destination.Kind

# What each kind needs, in the order the form shows it; the rest of a destination's fields are left blank.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    Kind.FOLDER: ("path",),
    Kind.SFTP: ("host", "port", "username", "directory", "host_key"),
    Kind.S3: ("bucket", "prefix", "endpoint_url", "region", "access_key_id"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    Kind.FOLDER: ("path",),
    Kind.SFTP: ("host", "username", "host_key"),
    Kind.S3: ("bucket", "access_key_id"),
}
SECRET_LABEL: dict[str, str] = {Kind.SFTP: "Password or private key", Kind.S3: "Secret access key"}
SECRET_HELP: dict[str, str] = {
    Kind.SFTP: "The SFTP account's password, or its private key (PEM or OpenSSH text, ed25519, ECDSA or RSA, "
    "without a passphrase): what you paste decides which is used.",
    Kind.S3: "The secret access key that goes with the access key id.",
}
PRIVATE_KEY_MARK = "-----BEGIN "


def _sftp() -> ModuleType:
    """The SFTP module, imported when an SFTP destination's keys are checked or shown: every process loads the admin
    (Django's autodiscovery), and paramiko would add its weight to each refresh worker."""
    from webadmit_dash.collection.destinations import sftp

    return sftp


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value, not even what was typed when the form comes back with an error: a
    private key spans lines (a password input cannot hold it) and must not be sent back to the browser."""

    def format_value(self, value: Any) -> None:
        return None


class DestinationForm(forms.ModelForm[Destination]):
    class Media:
        css = {"all": ["collection/admin.css"]}

    secret = forms.CharField(
        label="Password, private key or secret access key",
        required=False,
        strip=False,
        widget=WriteOnlyTextarea(
            attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false", "class": "write-only-secret"}
        ),
        help_text="SFTP: the account's password or private key; S3: the secret access key. Never shown again.",
    )

    class Meta:
        model = Destination
        fields = ["name", "kind", "enabled", *KIND_FIELDS[Kind.FOLDER], *KIND_FIELDS[Kind.SFTP], *KIND_FIELDS[Kind.S3]]
        widgets = {"host_key": forms.Textarea(attrs={"rows": 3, "cols": 100, "spellcheck": "false"})}
        help_texts = {
            "host": "SFTP: the server's name or address.",
            "username": "SFTP: the account files are uploaded as.",
            "host_key": "SFTP: the server's public host key, one line as `ssh-keyscan -t ed25519 HOST` prints it "
            "or the server's /etc/ssh/ssh_host_ed25519_key.pub holds. Only this key is trusted: a server answering "
            "with another is refused. Compare the fingerprint shown after saving with the one the server's "
            "administrator gives you (ssh-keygen -lf).",
            "access_key_id": "S3: the access key id of an account that may write to the bucket (and nothing else).",
            "region": "S3: the bucket's region (us-east-1 for most S3-compatible services).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.instance.kind if self.instance.pk else self.initial.get("kind")
        if kind in SECRET_LABEL:
            self.fields["secret"].label = SECRET_LABEL[kind]
            self.fields["secret"].help_text = SECRET_HELP[kind] + " Never shown again."
        if self.instance.has_secret:
            stored = (
                "a private key"
                if self.instance.kind == Kind.SFTP and self.instance.uses_private_key
                else "a password"
                if self.instance.kind == Kind.SFTP
                else "a secret access key"
            )
            self.fields["secret"].help_text = (
                f"{stored.capitalize()} is stored (encrypted; it is never shown). Paste a new one to replace it; "
                "leave blank to keep it."
            )

    def clean_path(self) -> str:
        path: str = self.cleaned_data["path"].strip()
        if path and not path.startswith("/"):
            raise forms.ValidationError("Give the folder's absolute path on the worker's host, e.g. /srv/outbox.")
        return path

    def clean_host_key(self) -> str:
        line = " ".join(self.cleaned_data["host_key"].split())
        if line:
            try:
                _sftp().parse_host_key(line)
            except ValueError as error:
                raise forms.ValidationError(f"This is not a host key: {error}.") from None
        return line

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # A destination's kind is chosen when it is added (the change form shows it read-only).
        kind = data.get("kind") or self.instance.kind
        if kind not in KIND_FIELDS:
            return data
        for name in REQUIRED[kind]:
            if not data.get(name) and name not in self.errors:
                self.add_error(name, f"A destination of kind “{Kind(kind).label}” needs this.")
        # What was typed into another kind's fields on the add form is dropped, not kept unused.
        for other, names in KIND_FIELDS.items():
            for name in names:
                if other != kind and name in data and name not in ("port", "region"):
                    data[name] = ""
        self._clean_secret(kind, data)
        return data

    def _clean_secret(self, kind: str, data: dict[str, Any]) -> None:
        secret: str = data.get("secret") or ""
        if kind == Kind.FOLDER:
            data["secret"] = ""
            return
        # A secret kept from another kind (an S3 key on what is now SFTP) means nothing here: a new one is needed.
        kept = self.instance.has_secret and self.instance.kind == kind
        if not secret.strip() and not kept:
            self.add_error("secret", f"Enter the {SECRET_LABEL[kind].lower()}.")
            return
        if not secret.strip():
            data["secret"] = ""
            return
        if kind == Kind.SFTP and secret.lstrip().startswith(PRIVATE_KEY_MARK):
            secret = secret.strip() + "\n"
            try:
                _sftp().parse_private_key(secret)
            except ValueError as error:
                self.add_error("secret", f"This private key cannot be used: {error}.")
                return
        else:
            # Only the line break a paste brings along: spaces may belong to a password.
            secret = secret.strip("\r\n")
        data["secret"] = secret

    def save(self, commit: bool = True) -> Destination:
        destination = super().save(commit=False)
        secret = self.cleaned_data.get("secret", "")
        if destination.kind == Kind.FOLDER:
            destination.set_secret("")
            destination.uses_private_key = False
        elif secret:
            destination.set_secret(secret)
            destination.uses_private_key = destination.kind == Kind.SFTP and secret.startswith(PRIVATE_KEY_MARK)
        if commit:
            destination.save()
        return destination


def describe_target(destination: Destination) -> str:
    """Where a destination puts files, in one line: a folder's path, user@host:port/folder, s3://bucket/prefix."""
    if destination.kind == Kind.FOLDER:
        return destination.path
    if destination.kind == Kind.SFTP:
        port = f":{destination.port}" if destination.port != 22 else ""
        return f"{destination.username}@{destination.host}{port}:{destination.directory or '.'}"
    where = f"s3://{destination.bucket}/{destination.prefix}"
    return f"{where} at {destination.endpoint_url}" if destination.endpoint_url else where


@admin.register(Destination)
class DestinationAdmin(SiteModelAdmin):
    form = DestinationForm
    list_display = ["name", "kind", "target", "enabled", "last_outcome"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "host", "bucket", "path"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Destination]:
        settled = (
            FileDelivery.objects.filter(destination=OuterRef("pk"))
            .exclude(state=FileDelivery.State.PENDING)
            .annotate(settled_at=Coalesce("delivered_at", "failed_at", output_field=DateTimeField()))
            .order_by(F("settled_at").desc(nulls_last=True), "-pk")
        )
        destinations: QuerySet[Destination] = (
            super()
            .get_queryset(request)
            .annotate(
                last_state=Subquery(settled.values("state")[:1]),
                last_at=Subquery(settled.values("settled_at")[:1]),
                last_error=Subquery(settled.values("last_error")[:1]),
            )
        )
        return destinations

    def _kind(self, request: HttpRequest, obj: Destination | None) -> str:
        if obj is not None and obj.pk:
            return obj.kind
        kind = request.GET.get("kind", "")
        return kind if kind in KIND_FIELDS else ""

    def get_fieldsets(self, request: HttpRequest, obj: Destination | None = None) -> Any:
        """The fields of the destination's kind only; on an add form opened without ?kind=, every kind's, each
        titled with the kind it is for."""
        kind = self._kind(request, obj)
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [(None, {"fields": ["name", "kind", "enabled"]})]
        for each in [kind] if kind else list(KIND_FIELDS):
            fields = list(KIND_FIELDS[each])
            if each == Kind.SFTP and obj is not None and obj.host_key:
                fields.append("host_key_fingerprint")
            if kind and each != Kind.FOLDER:
                fields.append("secret")
            title = Kind(each).label if kind else f"{Kind(each).label} only"
            fieldsets.append((title, {"fields": fields}))
        if not kind:
            fieldsets.append(("SFTP and S3 only", {"fields": ["secret"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Destination | None = None) -> tuple[str, ...]:
        if obj is None or not obj.pk:
            return ()
        return ("kind", "host_key_fingerprint") if obj.host_key else ("kind",)

    @admin.display(description="Host key fingerprint")
    def host_key_fingerprint(self, destination: Destination) -> str:
        try:
            return str(_sftp().fingerprint(destination.host_key))
        except ValueError as error:
            return f"The stored host key cannot be read: {error}."

    @admin.display(description="Target")
    def target(self, destination: Destination) -> str:
        return describe_target(destination)

    @admin.display(description="Last delivery")
    def last_outcome(self, destination: Destination) -> str:
        state: str | None = getattr(destination, "last_state", None)
        at: datetime | None = getattr(destination, "last_at", None)
        if state is None:
            return "Nothing delivered yet"
        when = f" {at:%Y-%m-%d %H:%M}" if at else ""
        if state == FileDelivery.State.DELIVERED:
            return f"Delivered{when}"
        reason: str = getattr(destination, "last_error", "") or ""
        return f"Failed{when}: {reason[:120]}"

    def save_model(self, request: HttpRequest, obj: Destination, form: DestinationForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.kind == Kind.SFTP and obj.host_key:
            self.message_user(
                request,
                f"“{obj.name}” trusts the host key {self.host_key_fingerprint(obj)} only: compare it with the "
                "fingerprint the server's administrator gives you.",
            )


class RuleForm(forms.ModelForm[Any]):
    """A rule's form: its template (delivery rules) checked in words; the model's clean() says what else is wrong."""

    def clean_file_name(self) -> str:
        template: str = self.cleaned_data["file_name"].strip()
        try:
            naming.check_template(template)
        except naming.BadTemplate as error:
            raise forms.ValidationError(str(error)) from None
        return template


RULE_FIELDS = ["identity", "association", "cycle", "export_name", "export", "since", "enabled"]


@admin.register(CollectionRule)
class CollectionRuleAdmin(SiteModelAdmin):
    form = RuleForm
    list_display = ["__str__", "since", "enabled", "created_at"]
    list_filter = ["enabled"]
    autocomplete_fields = ["identity", "export"]
    fieldsets = [
        (
            "Which files (every condition filled in must hold)",
            {"fields": ["identity", "association", "cycle", "export_name", "export"]},
        ),
        (None, {"fields": ["since", "enabled"]}),
    ]


@admin.register(DeliveryRule)
class DeliveryRuleAdmin(SiteModelAdmin):
    form = RuleForm
    list_display = ["__str__", "destination", "file_name", "enabled"]
    list_filter = ["enabled", "destination"]
    list_select_related = ["destination", "identity", "export"]
    autocomplete_fields = ["identity", "export"]
    fieldsets = [
        (
            "Which files (every condition filled in must hold)",
            {"fields": ["identity", "association", "cycle", "export_name", "export"]},
        ),
        ("Where, and under which name", {"fields": ["destination", "file_name", "example_name", "index_csv"]}),
        (None, {"fields": ["since", "enabled"]}),
    ]
    readonly_fields = ["example_name"]

    @admin.display(description="Example name (as saved)")
    def example_name(self, rule: DeliveryRule) -> str:
        try:
            return naming.render(rule.file_name or naming.DEFAULT_TEMPLATE, EXAMPLE_FIELDS)
        except naming.BadTemplate as error:
            return str(error)


EXAMPLE_FIELDS = naming.NameFields(
    export="Nightly Banner Export",
    identity="NursingCAS 2026 - 2027",
    cycle="2026 - 2027",
    file_id=2_345_678,
    export_id=29_897,
    ext="csv",
    finished=datetime.fromisoformat("2026-10-05T10:42:05+00:00"),
)


class FileDeliveryInline(admin.TabularInline[FileDelivery, CollectedFile]):
    model = FileDelivery
    extra = 0
    can_delete = False
    verbose_name = "delivery"
    verbose_name_plural = "trail of deliveries"
    fields = ("destination", "round", "state", "attempts", "remote_name", "checksum_verified", "settled", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="When")
    def settled(self, delivery: FileDelivery) -> str:
        at = delivery.delivered_at or delivery.failed_at
        return formats.localize(timezone.localtime(at)) if at else "-"


# What collection wrote: shown, never edited (the hold is the one thing a person decides).
COLLECTED_PROOF = (
    "export_name",
    "identity",
    "file_webadmit_id",
    "export_webadmit_id",
    "export_file",
    "piece",
    "part",
    "parts",
    "zip_webadmit_id",
    "state",
    "finished_at",
    "collected_at",
    "size",
    "sha256",
    "line_count",
    "content_type",
    "storage_name",
    "attempts",
    "last_error",
    "pruned_at",
)


@admin.register(CollectedFile)
class CollectedFileAdmin(SiteModelAdmin):
    list_display = ["export_name", "file_webadmit_id", "which", "identity", "state", "collected_at", "size", "hold"]
    list_filter = ["state", "piece", "hold"]
    search_fields = ["export_name", "=file_webadmit_id", "sha256"]
    list_select_related = ["identity"]
    date_hierarchy = "finished_at"
    fieldsets = [
        ("What was kept", {"fields": list(COLLECTED_PROOF)}),
        ("Records request", {"fields": ["hold", "hold_reason"]}),
    ]
    readonly_fields = COLLECTED_PROOF
    inlines = [FileDeliveryInline]
    actions = ["deliver_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The archive's copy goes with retention (pruning), which keeps the record as proof.
        return False

    def save_model(self, request: HttpRequest, obj: CollectedFile, form: Any, change: bool) -> None:
        obj.save(update_fields=["hold", "hold_reason"])

    @admin.display(description="Piece")
    def which(self, collected: CollectedFile) -> str:
        return collected.piece_label or "File"

    @admin.action(description="Deliver again")
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[CollectedFile]) -> None:
        files = list(queryset)
        user = request.user if request.user.is_authenticated else None
        rounds = [delivering.deliver_again(collected, user) for collected in files]
        queued = sum(len(created) for created in rounds)
        if queued:
            self.message_user(request, f"{queued} deliveries queued again, from the archive.")
        skipped = sum(1 for created in rounds if not created)
        if skipped:
            self.message_user(
                request,
                f"{skipped} of {len(files)} files not queued: not in the archive (waiting, failed or pruned), "
                "already on their way, or never owed to a destination.",
                messages.WARNING,
            )


@admin.register(FileDelivery)
class FileDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["collected", "destination", "round", "state", "attempts", "delivered_at", "failed_at", "reason"]
    list_filter = ["state", "destination"]
    search_fields = ["=collected__file_webadmit_id", "collected__export_name", "remote_name"]
    list_select_related = ["collected", "destination"]
    date_hierarchy = "created_at"

    @admin.display(description="Reason")
    def reason(self, delivery: FileDelivery) -> str:
        return delivery.last_error[:200]
