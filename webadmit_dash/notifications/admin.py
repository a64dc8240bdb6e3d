"""The admin of notifications: webhooks (address and secret write-only), each user's subscriptions, the deliveries
(pending, sent, failed with the reason, retries), and a test message for a webhook or a subscriber."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.mail import get_connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from webadmit_dash.notifications import messages as mail
from webadmit_dash.notifications import transports
from webadmit_dash.notifications.models import Delivery, Event, Subscription, Webhook, validate_webhook_url
from webadmit_dash.notifications.tasks import send_soon
from webadmit_dash.notifications.transports import DeliveryError
from webadmit_dash.shared.admin_base import ReadOnlyAdmin, SiteModelAdmin


class WebhookForm(forms.ModelForm[Webhook]):
    # Both write-only: a Slack or Teams address is as secret as the signing secret. The address typed into a form
    # that comes back with an error (a name taken, a short secret) is given back to the person who just typed it,
    # still masked, so it is not lost; the stored one never is (the field is not the model's, so it has no initial).
    url = forms.CharField(
        label="Address",
        required=False,
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "off"}),
        help_text="The receiver's https:// address. Leave blank when editing to keep the current one.",
    )
    secret = forms.CharField(
        label="Signing secret",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Generic JSON webhooks only (Slack and Teams check no signature): at least 16 characters; the "
        "receiver checks X-Webadmit-Signature-256 with it. Leave blank when editing to keep the current one.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "kind", "url", "secret", "enabled", "offered"]

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"].strip()
        if not url and not self.instance.url_encrypted:
            raise forms.ValidationError("Enter the webhook's address.")
        if url:
            validate_webhook_url(url)
        return url

    def clean_secret(self) -> str:
        secret: str = self.cleaned_data["secret"]
        # Slack and Teams check no signature: only a generic receiver needs the secret to trust what it gets.
        signed = self.cleaned_data.get("kind", self.instance.kind) == Webhook.Kind.GENERIC
        if signed and not secret and not self.instance.secret_encrypted:
            raise forms.ValidationError("Enter a signing secret (at least 16 characters).")
        if secret and len(secret) < 16:
            raise forms.ValidationError("Use at least 16 characters, so the signature cannot be guessed.")
        return secret

    def save(self, commit: bool = True) -> Webhook:
        webhook = super().save(commit=False)
        if self.cleaned_data.get("url"):
            webhook.set_url(self.cleaned_data["url"])
        if self.cleaned_data.get("secret"):
            webhook.set_secret(self.cleaned_data["secret"])
        if commit:
            webhook.save()
        return webhook


@admin.register(Webhook)
class WebhookAdmin(SiteModelAdmin):
    """Anyone with the webhook permission may add one; a shared webhook is changed, tested or deleted only by its
    owner or a superuser (others see it read-only)."""

    form = WebhookForm
    list_display = ["name", "kind", "url_host", "masked_secret", "enabled", "offered", "owner"]
    list_filter = ["kind", "enabled", "offered"]
    search_fields = ["name"]
    readonly_fields = ["url_host", "masked_secret", "owner"]
    actions = ["send_test"]

    @admin.display(description="Secret")
    def masked_secret(self, webhook: Webhook) -> str:
        if not webhook.secret_last4 and webhook.kind != Webhook.Kind.GENERIC:
            return "None (not signed: Slack and Teams check no signature)"
        return webhook.masked_secret

    def has_change_permission(self, request: HttpRequest, obj: Webhook | None = None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or obj.may_be_managed_by(request.user))

    def has_delete_permission(self, request: HttpRequest, obj: Webhook | None = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or obj.may_be_managed_by(request.user))

    def save_model(self, request: HttpRequest, obj: Webhook, form: forms.ModelForm[Webhook], change: bool) -> None:
        if not change:
            obj.owner = request.user if request.user.is_authenticated else None
        super().save_model(request, obj, form, change)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        # "Delete selected" asks has_delete_permission without a webhook: each one is checked here.
        if not all(webhook.may_be_managed_by(request.user) for webhook in queryset):
            raise PermissionDenied("Only a webhook's owner or a superuser may delete it.")
        super().delete_queryset(request, queryset)

    @admin.action(description="Send a test message")
    def send_test(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        for webhook in queryset:
            _send_test_to(webhook, self, request)


def _send_test_to(webhook: Webhook, model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> None:
    """Posts a test message to one webhook and says how it went, for the webhook's and a subscription's action."""
    if not webhook.may_be_managed_by(request.user):
        model_admin.message_user(
            request, f"“{webhook.name}”: only its owner or a superuser may send it a test message.", messages.ERROR
        )
        return
    body = mail.test_webhook_body(webhook, sent_at=timezone.now())
    try:
        status = transports.post_webhook(webhook, body, delivery_id="test", event_type="test")
    except DeliveryError as error:
        model_admin.message_user(request, f"“{webhook.name}”: {error.message}", messages.ERROR)
    else:
        model_admin.message_user(request, f"“{webhook.name}”: the test message was accepted ({status}).")


@admin.register(Subscription)
class SubscriptionAdmin(SiteModelAdmin):
    list_display = ["user", "events_told", "all_identities", "delivery", "digest_time", "email", "created_at"]
    list_filter = ["delivery", "email", "all_identities"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    autocomplete_fields = ["user", "identities"]
    filter_horizontal = ["webhooks"]
    readonly_fields = ["email_unsubscribed_at", "created_at"]
    actions = ["send_test"]

    @admin.display(description="Events")
    def events_told(self, subscription: Subscription) -> str:
        return ", ".join(subscription.event_labels)

    @admin.action(description="Send a test message to the subscriber's e-mail and webhooks")
    def send_test(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for subscription in queryset.select_related("user").prefetch_related("webhooks"):
            user = subscription.user
            if subscription.email and user.email:
                connection = get_connection(fail_silently=False)
                try:
                    transports.open_connection(connection)
                    transports.send_mail(connection, mail.test_mail(user))
                except DeliveryError as error:
                    self.message_user(request, f"E-mail to {user.email}: {error.message}", messages.ERROR)
                else:
                    self.message_user(
                        request, f"E-mail to {user.email}: the test message was handed to the mail server."
                    )
                finally:
                    connection.close()
            elif subscription.email:
                self.message_user(request, f"{user} has no e-mail address.", messages.WARNING)
            for webhook in subscription.webhooks.all():
                _send_test_to(webhook, self, request)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "recipient", "state", "attempts", "due_at", "sent_at", "last_error"]
    list_filter = ["state", "channel", "digest", "event__kind"]
    search_fields = ["user__username", "user__email", "event__export_name", "=event__file_webadmit_id"]
    list_select_related = ["event__credential", "user", "webhook"]
    date_hierarchy = "created_at"
    actions = ["retry_now"]

    @admin.display(description="To")
    def recipient(self, delivery: Delivery) -> str:
        return (
            delivery.webhook.name
            if delivery.webhook
            else f"{delivery.user} (e-mail{', digest' if delivery.digest else ''})"
        )

    @admin.action(description="Send again now (failed or pending ones)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = queryset.filter(state__in=[Delivery.State.FAILED, Delivery.State.PENDING]).update(
            state=Delivery.State.PENDING, due_at=timezone.now(), lease="", lease_until=None
        )
        send_soon()
        self.message_user(request, f"{count} deliveries will be sent within seconds.")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "kind",
        "export_name",
        "identity_name",
        "file_webadmit_id",
        "status",
        "destination_name",
    ]
    list_filter = ["kind"]
    search_fields = ["export_name", "=file_webadmit_id"]
    date_hierarchy = "occurred_at"
