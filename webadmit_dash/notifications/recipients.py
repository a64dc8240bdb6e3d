"""Who is owed a message about which event: the subscriptions an event matches, limited to what each user may see
(and, for a rejected key, to those who can enter a new one); the all-clear of a credential problem, to those who
were told of it; and, for a delivery that failed for good, every administrator.

`core.access.visible_identities` decides, here when the deliveries are recorded and again in `delivery` just before
each is sent, so a grant revoked in between stops the message.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo

from django.conf import settings
from django.contrib.auth.models import User

from webadmit_dash.core import access
from webadmit_dash.core.models import UserPreference
from webadmit_dash.notifications.models import Delivery, Event, EventKind, Subscription, Webhook


def event_identity_ids(event: Event) -> list[int]:
    """The identities an event is about: its file's, or a credential problem's affected ones."""
    return [event.identity_id] if event.identity_id else list(event.affected_identity_ids)


def visible_among(user: User, identity_ids: Iterable[int]) -> set[int]:
    """The given identities this user may see (one query)."""
    wanted = set(identity_ids)
    if not wanted:
        return set()
    return set(access.visible_identities(user).filter(pk__in=wanted).values_list("pk", flat=True))


def in_scope(subscription: Subscription, identity_ids: Iterable[int], subscribed: set[int] | None = None) -> set[int]:
    """Which of the identities the subscription covers (before asking what the user may see)."""
    ids = set(identity_ids)
    if subscription.all_identities:
        return ids
    chosen = subscribed if subscribed is not None else {identity.pk for identity in subscription.identities.all()}
    return ids & chosen


def matches(subscription: Subscription, event: Event, covered: set[int]) -> bool:
    """Whether the subscription wants this event, given the event's identities it covers and the user may see."""
    if event.kind not in subscription.events or not covered:
        return False
    if event.kind == EventKind.CREDENTIAL or not subscription.export_names:
        return True
    return event.export_name.casefold() in subscription.export_keys


# Who can act on a rejected key: whoever may enter a new one in the admin.
CHANGE_CREDENTIAL = "dashboard.change_credential"


def may_hear(user: User, event: Event) -> bool:
    """A rejected key (and its all-clear) is told only to those who can enter a new key; everyone else could do
    nothing about it. WebAdMIT not answering is nobody's to fix here: it is told to all who chose it.

    `has_perm` caches the user's permissions on the user object: one query per recipient, not per event."""
    if event.kind == EventKind.CREDENTIAL and event.status == "key_rejected":
        return user.is_active and user.has_perm(CHANGE_CREDENTIAL)
    return True


def user_zone(preference_zone: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(preference_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def next_digest_at(subscription: Subscription, zone: tzinfo, now: datetime) -> datetime:
    """The next time of day the subscription's digest goes, in the user's zone (a day has 23 or 25 hours twice a
    year: the wall-clock time is kept)."""
    local = now.astimezone(zone)
    day = local.date()
    for offset in range(3):
        candidate = datetime.combine(day + timedelta(days=offset), subscription.digest_time, tzinfo=zone)
        if candidate > local:
            return candidate
    raise AssertionError("unreachable: a time of day comes within two days")


def deliveries_for(events: Sequence[Event], now: datetime) -> list[Delivery]:
    """Every message owed for these events, not yet saved (the caller inserts them, ignoring keys already there)."""
    if not events:
        return []
    owed = _subscribed(events, now)
    for delivery in _administrators(events, owed, now):
        owed.setdefault(delivery.key, delivery)
    return list(owed.values())


def _subscribed(events: Sequence[Event], now: datetime) -> dict[str, Delivery]:
    """What the subscriptions the events match are owed, by key."""
    subscriptions = list(
        Subscription.objects.filter(user__is_active=True)
        .select_related("user")
        .prefetch_related("identities", "webhooks")
    )
    if not subscriptions:
        return {}
    all_ids = {identity_id for event in events for identity_id in event_identity_ids(event)}
    users = {subscription.user_id: subscription.user for subscription in subscriptions}
    visible = {user_id: visible_among(user, all_ids) for user_id, user in users.items()}
    zones = dict(UserPreference.objects.filter(user_id__in=users).values_list("user_id", "time_zone"))
    owed: dict[str, Delivery] = {}
    for subscription in subscriptions:
        chosen = {identity.pk for identity in subscription.identities.all()}
        webhooks = [webhook for webhook in subscription.webhooks.all() if webhook.enabled]
        email = subscription.email and bool(subscription.user.email)
        if not email and not webhooks:
            continue
        due = next_digest_at(subscription, user_zone(zones.get(subscription.user_id, "")), now)
        for event in events:
            covered = in_scope(subscription, event_identity_ids(event), chosen) & visible[subscription.user_id]
            if not matches(subscription, event, covered) or not may_hear(users[subscription.user_id], event):
                continue
            for delivery in _channels(subscription, event, email, webhooks, due, now):
                owed.setdefault(delivery.key, delivery)
    return owed


def all_clear_deliveries(problem: Event, all_clear: Event, now: datetime) -> list[Delivery]:
    """The all-clear of a credential problem is owed to exactly those who were told of it (or still are to be),
    over the same channel: one message per recipient and channel, however many identities recovered. A digest
    reader hears it in their next digest. Whether each may still hear it is checked again when it is sent."""
    told = list(
        problem.deliveries.filter(
            state__in=[Delivery.State.SENT, Delivery.State.PENDING], subscription__isnull=False
        ).select_related("subscription")
    )
    zones = dict(
        UserPreference.objects.filter(user_id__in={d.user_id for d in told}).values_list("user_id", "time_zone")
    )
    owed: dict[str, Delivery] = {}
    for earlier in told:
        subscription = earlier.subscription
        assert subscription is not None  # filtered above
        if earlier.channel == Delivery.Channel.WEBHOOK:
            key = f"webhook:{earlier.webhook_id}:{all_clear.pk}"
            due = now
        else:
            key = f"email:{earlier.user_id}:{all_clear.pk}:{'digest' if earlier.digest else 'now'}"
            due = (
                next_digest_at(subscription, user_zone(zones.get(earlier.user_id, "")), now) if earlier.digest else now
            )
        owed.setdefault(
            key,
            Delivery(
                key=key,
                event=all_clear,
                user_id=earlier.user_id,
                subscription=subscription,
                channel=earlier.channel,
                webhook_id=earlier.webhook_id,
                digest=earlier.digest,
                due_at=due,
                created_at=now,
            ),
        )
    return list(owed.values())


def _administrators(events: Sequence[Event], owed: dict[str, Delivery], now: datetime) -> Iterable[Delivery]:
    """A failed delivery is e-mailed at once to every administrator (an active superuser with an address), chosen or
    not: someone has to fix the destination, and only they can. One who already gets it by e-mail through a
    subscription (at once or in a digest) gets no second copy."""
    failures = [event for event in events if event.kind == EventKind.DELIVERY_FAILED]
    if not failures:
        return
    mailed = {(d.user_id, d.event_id) for d in owed.values() if d.channel == Delivery.Channel.EMAIL}
    for admin in User.objects.filter(is_superuser=True, is_active=True).exclude(email="").order_by("pk"):
        for event in failures:
            if (admin.pk, event.pk) in mailed:
                continue
            yield Delivery(
                key=f"email:{admin.pk}:{event.pk}:now",
                event=event,
                user=admin,
                subscription=None,
                channel=Delivery.Channel.EMAIL,
                due_at=now,
                created_at=now,
            )


def administrator_copy(delivery: Delivery) -> bool:
    """Whether a delivery with no subscription is an administrator's copy of a failed delivery that may still go
    (the recipient is still an active superuser with an address)."""
    user = delivery.user
    return (
        delivery.event.kind == EventKind.DELIVERY_FAILED
        and delivery.channel == Delivery.Channel.EMAIL
        and user.is_active
        and user.is_superuser
        and bool(user.email)
    )


def _channels(
    subscription: Subscription, event: Event, email: bool, webhooks: list[Webhook], digest_due: datetime, now: datetime
) -> Iterable[Delivery]:
    if email:
        mode = "digest" if subscription.is_digest else "now"
        yield Delivery(
            key=f"email:{subscription.user_id}:{event.pk}:{mode}",
            event=event,
            user_id=subscription.user_id,
            subscription=subscription,
            channel=Delivery.Channel.EMAIL,
            digest=subscription.is_digest,
            due_at=digest_due if subscription.is_digest else now,
            created_at=now,
        )
    if subscription.is_digest:
        return  # digests go by e-mail; the form does not let a digest choose webhooks
    for webhook in webhooks:
        # One call per webhook and event, however many subscribers chose it: it is one shared channel.
        yield Delivery(
            key=f"webhook:{webhook.pk}:{event.pk}",
            event=event,
            user_id=subscription.user_id,
            subscription=subscription,
            channel=Delivery.Channel.WEBHOOK,
            webhook=webhook,
            due_at=now,
            created_at=now,
        )


def group_by_user(deliveries: Iterable[Delivery]) -> dict[int, list[Delivery]]:
    grouped: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        grouped[delivery.user_id].append(delivery)
    return grouped


def still_allowed(claimed: list[Delivery]) -> tuple[dict[int, list[int]], dict[int, str]]:
    """Deliveries that may still go, with the event's identities each recipient may see; and why the rest may not."""
    allowed: dict[int, list[int]] = {}
    why_not: dict[int, str] = {}
    subscription_ids = {d.subscription_id for d in claimed if d.subscription_id}
    chosen: dict[int, set[int]] = defaultdict(set)
    for subscription_id, identity_id in Subscription.identities.through.objects.filter(
        subscription_id__in=subscription_ids
    ).values_list("subscription_id", "useridentity_id"):
        chosen[subscription_id].add(identity_id)
    webhooks: dict[int, set[int]] = defaultdict(set)
    for subscription_id, webhook_id in Subscription.webhooks.through.objects.filter(
        subscription_id__in=subscription_ids
    ).values_list("subscription_id", "webhook_id"):
        webhooks[subscription_id].add(webhook_id)
    owners_see = _webhook_owners_see(claimed)
    for deliveries in group_by_user(claimed).values():
        user = deliveries[0].user
        wanted = {pk for d in deliveries for pk in event_identity_ids(d.event)}
        visible = visible_among(user, wanted) if user.is_active else set()
        for delivery in deliveries:
            subscription = delivery.subscription
            if subscription is None and administrator_copy(delivery):
                allowed[delivery.pk] = event_identity_ids(delivery.event)
                continue
            refused = _channel_refused(delivery, webhooks)
            if subscription is None or refused:
                why_not[delivery.pk] = refused or "the subscription was deleted"
                continue
            identity_ids = event_identity_ids(delivery.event)
            covered = in_scope(subscription, identity_ids, chosen[subscription.pk]) & visible
            if not matches(subscription, delivery.event, covered):
                why_not[delivery.pk] = "the recipient may no longer see this identity, or no longer chose this event"
                continue
            if not may_hear(user, delivery.event):
                why_not[delivery.pk] = "the recipient may no longer change credentials, so cannot act on a rejected key"
                continue
            owner_sees = owners_see.get(delivery.webhook_id or 0)
            if owner_sees is not None and not matches(subscription, delivery.event, covered & owner_sees):
                why_not[delivery.pk] = "the webhook's owner may not see this identity, so it does not carry its news"
                continue
            allowed[delivery.pk] = sorted(covered if owner_sees is None else covered & owner_sees)
    return allowed, why_not


def _webhook_owners_see(claimed: list[Delivery]) -> dict[int, set[int]]:
    """For each webhook owned by someone other than a superuser, the event identities its owner may see.

    Whoever owns a webhook decides where it sends: it carries news only of identities they may see themselves, so
    a webhook offered by a staff member who sees nothing cannot collect other people's news. A webhook with no
    owner (added before owners were recorded; only superusers manage it) is not limited.
    """
    hooks = {d.webhook.pk: d.webhook for d in claimed if d.webhook is not None and d.webhook.owner is not None}
    wanted = {pk for d in claimed if d.webhook_id in hooks for pk in event_identity_ids(d.event)}
    seen: dict[int, set[int]] = {}
    for pk, webhook in hooks.items():
        owner = webhook.owner
        if owner is not None and not (owner.is_superuser and owner.is_active):
            seen[pk] = visible_among(owner, wanted)
    return seen


def _channel_refused(delivery: Delivery, webhooks: dict[int, set[int]]) -> str:
    """Why the delivery's subscription or channel no longer takes it, in words; "" when it still does."""
    subscription, user = delivery.subscription, delivery.user
    if subscription is None and delivery.event.kind == EventKind.DELIVERY_FAILED:
        return "the subscription was deleted, or the recipient is no longer an administrator with an e-mail address"
    if subscription is None:
        return "the subscription was deleted"
    if subscription.user_id != delivery.user_id:
        return "the subscription was given to someone else before it was sent"
    if delivery.channel == Delivery.Channel.EMAIL and not (subscription.email and user.email):
        return "e-mail was turned off (or the user has no address) before it was sent"
    if delivery.channel == Delivery.Channel.WEBHOOK and (
        delivery.webhook is None or not delivery.webhook.enabled or delivery.webhook_id not in webhooks[subscription.pk]
    ):
        return "the webhook was disabled or unchosen before it was sent"
    return ""
