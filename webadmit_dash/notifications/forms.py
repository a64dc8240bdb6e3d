"""The subscription form: what a user chooses on /notifications/, checked against what they may see."""

from __future__ import annotations

from datetime import time
from typing import Any

from django import forms
from django.contrib.auth.models import User

from webadmit_dash.core import access
from webadmit_dash.core.models import Export, UserIdentity
from webadmit_dash.notifications.models import EventKind, Subscription, Webhook

SCOPE_CHOICES = [("all", "Every identity I may see, including ones granted later"), ("some", "Only these identities")]


MAX_ID = 2**63 - 1


class IdChoiceField(forms.ModelMultipleChoiceField[Any]):
    """Ids from the browser are checked to fit a signed 64-bit column before any query (SQLite raises on larger)."""

    def clean(self, value: Any) -> Any:
        for pk in value if isinstance(value, list | tuple) else []:
            try:
                number = int(str(pk).strip())
            except ValueError:
                continue  # Django refuses it with invalid_pk_value
            if not -MAX_ID <= number <= MAX_ID:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super().clean(value)


class IdentityChoiceField(IdChoiceField):
    def label_from_instance(self, obj: UserIdentity) -> str:
        return obj.display_name


class SubscriptionForm(forms.ModelForm[Subscription]):
    scope = forms.ChoiceField(choices=SCOPE_CHOICES, widget=forms.RadioSelect, initial="all", label="Identities")
    identities = IdentityChoiceField(
        queryset=UserIdentity.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Which identities",
        # A crafted form can name any id: one the user may not see is refused in words, never silently dropped.
        error_messages={
            "invalid_choice": "Identity %(value)s is not one you may see, so you cannot subscribe to it.",
            "invalid_pk_value": "“%(pk)s” is not an identity.",
        },
    )
    export_names = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only these exports",
        help_text="Leave all unticked to hear about every export.",
        error_messages={"invalid_choice": "“%(value)s” is not an export of the identities you may see."},
    )
    events = forms.MultipleChoiceField(
        choices=EventKind.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Tell me when",
        error_messages={"required": "Choose at least one event to hear about."},
    )
    delivery = forms.ChoiceField(
        choices=Subscription.Delivery.choices,
        widget=forms.RadioSelect,
        label="How often",
        initial=Subscription.Delivery.IMMEDIATE,
    )
    digest_time = forms.TimeField(
        label="Digest time",
        required=False,
        initial=time(8, 0),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    webhooks = IdChoiceField(
        queryset=Webhook.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Webhooks",
        error_messages={
            "invalid_choice": "Webhook %(value)s is not offered to you.",
            "invalid_pk_value": "“%(pk)s” is not a webhook.",
        },
    )

    class Meta:
        model = Subscription
        fields = ["identities", "export_names", "events", "delivery", "digest_time", "email", "webhooks"]
        labels = {"email": "E-mail"}

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        visible = access.visible_identities(user)
        identity_field = self.fields["identities"]
        assert isinstance(identity_field, forms.ModelMultipleChoiceField)
        identity_field.queryset = visible
        webhook_field = self.fields["webhooks"]
        assert isinstance(webhook_field, forms.ModelMultipleChoiceField)
        webhook_field.queryset = Webhook.objects.filter(enabled=True, offered=True)
        names = sorted(
            set(Export.objects.filter(identity__in=visible).values_list("name", flat=True).distinct())
            | set(self.instance.export_names if self.instance.pk else []),
            key=str.casefold,
        )
        export_field = self.fields["export_names"]
        assert isinstance(export_field, forms.MultipleChoiceField)
        export_field.choices = [(name, name) for name in names]
        self.fields["email"].help_text = (
            f"To {user.email}." if user.email else "Your account has no e-mail address: ask an administrator."
        )
        if self.instance.pk:
            self.initial["scope"] = "all" if self.instance.all_identities else "some"
        else:
            self.initial.setdefault("events", [kind.value for kind in EventKind if kind != EventKind.CREDENTIAL])

    @property
    def has_webhooks(self) -> bool:
        field = self.fields["webhooks"]
        assert isinstance(field, forms.ModelMultipleChoiceField) and field.queryset is not None
        return field.queryset.exists()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") == "some" and not data.get("identities") and "identities" not in self.errors:
            self.add_error("identities", "Choose at least one identity, or choose every identity you may see.")
        digest = data.get("delivery") == Subscription.Delivery.DIGEST
        if digest and data.get("digest_time") is None and "digest_time" not in self.errors:
            self.add_error("digest_time", "Choose the time of day the digest should arrive.")
        if digest and data.get("webhooks"):
            self.add_error(
                "webhooks",
                "A daily digest goes by e-mail only; webhooks get each event as it happens. Choose “Immediately”, "
                "or make a second subscription for the webhooks.",
            )
        if data.get("email") and not self.user.email:
            self.add_error("email", "Your account has no e-mail address, so nothing could be sent to it.")
        if not data.get("email") and not data.get("webhooks") and not self.errors:
            raise forms.ValidationError("Choose where to send notifications: e-mail, a webhook, or both.")
        return data

    def save(self, commit: bool = True) -> Subscription:
        subscription = super().save(commit=False)
        subscription.user = self.user
        subscription.all_identities = self.cleaned_data["scope"] == "all"
        if subscription.digest_time is None:
            subscription.digest_time = Subscription._meta.get_field("digest_time").get_default()
        if subscription.email:
            subscription.email_unsubscribed_at = None
        if commit:
            subscription.save()
            self.save_m2m()
            if subscription.all_identities:
                subscription.identities.clear()
        return subscription
