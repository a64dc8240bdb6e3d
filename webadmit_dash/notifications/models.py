"""Who hears about what (Subscription, Webhook), what happened (Event), and each message owed (Delivery)."""

from __future__ import annotations

from datetime import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from webadmit_dash.core import crypto
from webadmit_dash.core.models import Credential, ExportFile, UserIdentity
from webadmit_dash.core.validators import is_loopback_host
from webadmit_dash.notifications import destinations


class EventKind(models.TextChoices):
    """What a person can choose to hear about."""

    AVAILABLE = "available", "Available"
    SUCCESS_WITH_ERRORS = "success_with_errors", "Success With Errors"
    EMPTY_LIST = "empty_list", "Empty List"
    FAILED = "failed", "Failed"
    STUCK = "stuck", "Stuck"
    CREDENTIAL = "credential", "Credential problem"
    # A collected file that could not be delivered to a destination, after its last try (collection.FileDelivery).
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    # The watchdog (schedules): an expected file's deadline passed with no good run, and its late arrival.
    MISSING = "missing", "Missing"
    ARRIVED_LATE = "arrived_late", "Arrived late"


def validate_webhook_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError("This is not a valid address.") from None
    # Plain http only to a receiver on this machine (tests, a local relay): nothing crosses the network in clear text.
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host))):
        raise ValidationError("Webhook addresses must start with https:// (plain http only to this machine).")
    try:
        destinations.check_on_save(host, port)
    except destinations.RefusedDestination as refused:
        raise ValidationError(refused.message) from None


class Webhook(models.Model):
    """An address that receives notifications as JSON, defined by an administrator and offered to users.

    The address and the secret are both stored encrypted: a Slack or Teams webhook address is itself a credential.
    It is shared (every subscriber who chose it hears through it), so only its owner or a superuser may re-point,
    test or delete it: anyone else with the webhook permission could otherwise redirect other people's messages.
    """

    class Kind(models.TextChoices):
        GENERIC = "generic", "Generic JSON"
        SLACK = "slack", "Slack-compatible"
        TEAMS = "teams", "Microsoft Teams-compatible"

    name = models.CharField(max_length=100, unique=True, help_text="What users see, e.g. '#admissions-ops on Slack'.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GENERIC)
    url_encrypted = models.TextField(editable=False)
    url_host = models.CharField("host", max_length=255, editable=False)
    secret_encrypted = models.TextField(editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    enabled = models.BooleanField(default=True, help_text="Disabled webhooks receive nothing.")
    offered = models.BooleanField(
        "offered to users", default=True, help_text="Users may choose it on their Notifications page."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="Who added it; only they and superusers may change, test or delete it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_url(self, url: str) -> None:
        url = url.strip()
        validate_webhook_url(url)
        self.url_encrypted = crypto.encrypt(url)
        self.url_host = urlsplit(url).hostname or ""

    def get_url(self) -> str:
        return crypto.decrypt(self.url_encrypted)

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret)
        self.secret_last4 = secret[-4:]

    def get_secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    def may_be_managed_by(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        """Whether this user may change, test or delete it: its owner or a superuser."""
        return bool(getattr(user, "is_superuser", False)) or (self.owner_id is not None and self.owner_id == user.pk)

    @property
    def masked_secret(self) -> str:
        return f"••••••••{self.secret_last4}" if self.secret_last4 else "(not set)"


class Subscription(models.Model):
    """One user's choice: which identities (and exports), which events, how often, and over which channels."""

    class Delivery(models.TextChoices):
        IMMEDIATE = "immediate", "Immediately"
        DIGEST = "digest", "Daily digest"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    # All identities the user may see, at the time of each event: those granted later included.
    all_identities = models.BooleanField(default=True)
    identities = models.ManyToManyField(UserIdentity, blank=True, related_name="+")
    # Export names (compared without regard to case); empty means every export.
    export_names = models.JSONField(default=list, blank=True)
    events = models.JSONField(default=list, help_text="Event kinds: " + ", ".join(EventKind.values))
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.IMMEDIATE)
    digest_time = models.TimeField(default=time(8, 0), help_text="In the user's time zone (Preferences).")
    email = models.BooleanField("e-mail", default=True)
    webhooks = models.ManyToManyField(Webhook, blank=True, related_name="subscriptions")
    email_unsubscribed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.user}: {', '.join(EventKind(kind).label for kind in self.events if kind in EventKind.values)}"

    @property
    def is_digest(self) -> bool:
        return self.delivery == self.Delivery.DIGEST

    @property
    def event_labels(self) -> list[str]:
        return [kind.label for kind in EventKind if kind.value in self.events]

    @property
    def export_keys(self) -> set[str]:
        return {name.casefold() for name in self.export_names}


class IdentityWatch(models.Model):
    """When an identity was first listed. Files of that first listing were there before anyone watched: their first
    sighting is not news; a file first seen later (even already finished) is a new run."""

    identity = models.OneToOneField(UserIdentity, on_delete=models.CASCADE, primary_key=True, related_name="+")
    first_listed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.identity_id} first listed {self.first_listed_at:%Y-%m-%d %H:%M}"


class Event(models.Model):
    """Something that happened that people may hear about, recorded once (its key is unique).

    What the message says is copied here when the event is recorded, so a message sent hours later (a retry, a
    digest) tells what happened then, even once the file has been pruned.
    """

    kind = models.CharField(max_length=20, choices=EventKind.choices)
    key = models.CharField(max_length=100, unique=True)
    identity = models.ForeignKey(UserIdentity, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    export_file = models.ForeignKey(ExportFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Credential problems: the identities affected (each recipient hears only of those they may see).
    affected_identity_ids = models.JSONField(default=list, blank=True)
    file_webadmit_id = models.BigIntegerField(null=True, blank=True)
    export_name = models.CharField(max_length=300, blank=True)
    identity_name = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=100, blank=True, help_text="The status as WebAdMIT said it.")
    # A failed delivery: where the file was to go (the reason is in `detail`).
    destination_name = models.CharField(max_length=100, blank=True)
    detail = models.TextField(blank=True)
    # The end of a credential problem (its `status` says which), told to those who were told of its start.
    all_clear = models.BooleanField(default=False)
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]

    def __str__(self) -> str:
        what = self.export_name or (self.credential.name if self.credential_id and self.credential else "")
        return f"{'All clear' if self.all_clear else self.get_kind_display()}: {what}"


class Delivery(models.Model):
    """One message owed to one recipient about one event, and what became of it.

    The key is unique per recipient and event (an e-mail: user, event and immediate/digest; a webhook: webhook and
    event), so recording the same event twice, or two subscriptions matching it, never owes two messages.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Not sent"

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    key = models.CharField(max_length=120, unique=True)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    digest = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    due_at = models.DateTimeField(default=timezone.now, help_text="When it is (next) to be sent.")
    attempts = models.PositiveIntegerField(default=0)
    # A sender's claim: other senders leave the delivery alone until it expires (a sender that died frees it so).
    lease = models.CharField(max_length=32, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["due_at"], name="delivery_due_idx", condition=Q(state="pending")),
            models.Index(fields=["user", "-created_at"], name="delivery_user_idx"),
        ]

    def __str__(self) -> str:
        target = self.webhook.name if self.webhook_id and self.webhook else f"e-mail to {self.user}"
        return f"{self.event} → {target} ({self.get_state_display()})"


class CredentialAlert(models.Model):
    """One episode of a credential problem (key rejected, WebAdMIT unreachable): its event is sent once, when the
    episode starts; the episode ends when the problem does, and a later one is news again."""

    class Kind(models.TextChoices):
        KEY_REJECTED = "key_rejected", "Key rejected"
        UNREACHABLE = "unreachable", "WebAdMIT unreachable"

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["credential", "kind"], condition=Q(ended_at__isnull=True), name="one_open_alert_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.credential}: {self.get_kind_display()} since {self.started_at:%Y-%m-%d %H:%M}"
