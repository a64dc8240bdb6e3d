"""Sending what is owed: claim due deliveries, check once more that each may still go, send, record the outcome.

Every delivery lives in the database until it is sent or has failed for good, so retries survive restarts: a
transient error sets the next attempt (exponential backoff with jitter) in `due_at`, and the periodic `deliver_due`
picks it up. A sender claims deliveries with a lease before sending; a sender killed mid-send leaves its lease to
expire, and the delivery goes later, once. Marking "sent" is conditional on still holding the lease, so two senders
never both record one delivery.

Just before sending, the recipient is checked again (active user, subscription still choosing this channel, the
event's identity still visible to them): a grant revoked after the event was recorded stops the message.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webadmit_dash.core.models import UserIdentity
from webadmit_dash.core.text import clean, one_line
from webadmit_dash.notifications import destinations, messages, recipients, signals, transports
from webadmit_dash.notifications.models import Delivery
from webadmit_dash.notifications.transports import DeliveryError
from webadmit_dash.notifications.words import identity_short_name

logger = logging.getLogger(__name__)

CLAIM_SIZE = 50
SEND_BUDGET_SECONDS = 40.0  # within the task's soft time limit; what is left is released for the next run
MAX_ATTEMPTS = 12  # backoff from 30 s doubling to an hour: about seven hours of trying
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)


@dataclass
class SendResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    released: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: SendResult) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.released += other.released
        self.errors += other.errors


def lease() -> timedelta:
    """How long a claim is held: longer than a claim takes to send (SEND_BUDGET_SECONDS plus one slow message)."""
    return timedelta(seconds=settings.NOTIFY_SEND_LEASE_SECONDS)


def backoff(attempts: int) -> timedelta:
    factor: int = 2 ** min(attempts - 1, 20)  # typed: int ** int is Any to mypy (a negative power would be a float)
    ceiling = min(BACKOFF_BASE * factor, BACKOFF_CAP)
    return ceiling * random.uniform(0.5, 1.0)


def deliver_due(now: datetime | None = None, *, budget_seconds: float = SEND_BUDGET_SECONDS) -> SendResult:
    """Sends due deliveries, claim after claim, until none is due or the time budget is spent."""
    started = time.monotonic()
    total = SendResult()
    while time.monotonic() - started < budget_seconds:
        at = now or timezone.now()
        claimed = claim(at)
        if not claimed:
            break
        total.add(send_claimed(claimed, at, deadline=started + budget_seconds))
    return total


def claim(now: datetime, size: int = CLAIM_SIZE) -> list[Delivery]:
    """Takes a lease on up to `size` due deliveries nobody holds; a due digest is claimed with all of its user's
    due digest deliveries, so a digest goes as one mail."""
    token = uuid.uuid4().hex
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    due = Delivery.objects.filter(free, state=Delivery.State.PENDING, due_at__lte=now)
    with transaction.atomic():
        ids = list(
            due.order_by("due_at", "pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", "digest", "user_id")[:size]
        )
        if not ids:
            return []
        digest_users = {user_id for _, digest, user_id in ids if digest}
        picked = {pk for pk, digest, _ in ids if not digest}
        if digest_users:
            picked |= set(due.filter(digest=True, user_id__in=digest_users).values_list("pk", flat=True)[:1000])
        Delivery.objects.filter(free, pk__in=picked).update(lease=token, lease_until=now + lease())
    return list(
        Delivery.objects.filter(lease=token)
        .select_related("event__credential", "user", "webhook__owner", "subscription")
        .order_by("pk")
    )


def send_claimed(claimed: list[Delivery], now: datetime, *, deadline: float) -> SendResult:
    result = SendResult()
    allowed, why_not = recipients.still_allowed(claimed)
    for delivery in claimed:
        if delivery.pk not in allowed:
            _finish(delivery, Delivery.State.CANCELLED, why_not.get(delivery.pk, "no longer wanted"), now)
            result.cancelled += 1
    emails = [d for d in claimed if d.pk in allowed and d.channel == Delivery.Channel.EMAIL]
    hooks = [d for d in claimed if d.pk in allowed and d.channel == Delivery.Channel.WEBHOOK]
    names = _identity_names(claimed)
    result.add(_send_emails(emails, allowed, names, now, deadline))
    result.add(_send_webhooks(hooks, allowed, names, now, deadline))
    return result


def _identity_names(claimed: Iterable[Delivery]) -> dict[int, str]:
    ids = {pk for d in claimed if not d.event.identity_id for pk in d.event.affected_identity_ids}
    if not ids:
        return {}
    return {identity.pk: identity_short_name(identity) for identity in UserIdentity.objects.filter(pk__in=ids)}


def _send_emails(
    deliveries: list[Delivery], allowed: dict[int, list[int]], names: dict[int, str], now: datetime, deadline: float
) -> SendResult:
    result = SendResult()
    if not deliveries:
        return result
    # One message per immediate delivery; one per user for their due digest deliveries.
    groups: list[list[Delivery]] = [[d] for d in deliveries if not d.digest]
    digests: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        if delivery.digest:
            digests[delivery.user_id].append(delivery)
    groups += list(digests.values())
    connection = get_connection(fail_silently=False)
    opened = False
    try:
        for group in groups:
            if time.monotonic() > deadline:
                result.released += _release(group)
                continue
            first = group[0]
            items = [(d.event, [names.get(pk, "") for pk in allowed[d.pk] if not d.event.identity_id]) for d in group]
            try:
                message = messages.event_mail(
                    first.user, items, [d.subscription_id for d in group if d.subscription_id], [d.key for d in group]
                )
                if not opened:
                    # One connection for the whole claim; after an error the next message opens a fresh one.
                    transports.open_connection(connection)
                    opened = True
                transports.send_mail(connection, message)
            except DeliveryError as error:
                connection.close()
                opened = False
                for delivery in group:
                    result.add(_failed(delivery, error, now))
            except Exception as error:  # one bad message must not hold back the rest of the claim
                connection.close()
                opened = False
                result.add(_failed_unexpectedly(group, _mail_error_reason(error), now))
            else:
                for delivery in group:
                    _finish(delivery, Delivery.State.SENT, "", now)
                result.sent += len(group)
    finally:
        connection.close()
    return result


def _send_webhooks(
    deliveries: list[Delivery], allowed: dict[int, list[int]], names: dict[int, str], now: datetime, deadline: float
) -> SendResult:
    result = SendResult()
    if not deliveries:
        return result
    with destinations.session() as session:
        for delivery in deliveries:
            if time.monotonic() > deadline:
                result.released += _release([delivery])
                continue
            assert delivery.webhook is not None
            event = delivery.event
            event_names = [names.get(pk, "") for pk in allowed[delivery.pk]] if not event.identity_id else []
            try:
                body = messages.webhook_body(delivery.webhook, event, event_names, sent_at=now)
                transports.post_webhook(
                    delivery.webhook,
                    body,
                    delivery_id=delivery.key,
                    event_type=messages.event_type(event),
                    session=session,
                )
            except DeliveryError as error:
                result.add(_failed(delivery, error, now))
            except Exception as error:  # one bad message must not hold back the rest of the claim
                # Only the error's kind: its text could quote the webhook's address, which is a secret.
                reason = f"an unexpected error stopped it ({type(error).__name__})"
                result.add(_failed_unexpectedly([delivery], reason, now, log_details=False))
            else:
                _finish(delivery, Delivery.State.SENT, "", now)
                result.sent += 1
    return result


def _mail_error_reason(error: Exception) -> str:
    """What went wrong with one mail, for the Notifications page and the admin (a mail's error quotes at most the
    message's own headers, such as a recipient address that holds a line break)."""
    return f"an unexpected error stopped it ({type(error).__name__}: {one_line(str(error), 300)})"


def _failed_unexpectedly(
    deliveries: list[Delivery], reason: str, now: datetime, *, log_details: bool = True
) -> SendResult:
    """Fails deliveries for good on an error no transport foresaw: trying again would fail the same way, and left
    pending, they would come back every lease to crash the sender and hold back everyone else's messages."""
    logger.error("Deliveries %s failed for good: %s", [d.pk for d in deliveries], reason, exc_info=log_details)
    for delivery in deliveries:
        _finish(delivery, Delivery.State.FAILED, reason, now, attempts=delivery.attempts + 1)
    return SendResult(failed=len(deliveries), errors=[reason])


def _failed(delivery: Delivery, error: DeliveryError, now: datetime) -> SendResult:
    attempts = delivery.attempts + 1
    if error.permanent:
        _finish(delivery, Delivery.State.FAILED, error.message, now, attempts=attempts)
        logger.warning("Delivery %s failed for good: %s", delivery.pk, error.message)
        return SendResult(failed=1, errors=[error.message])
    if attempts >= MAX_ATTEMPTS:
        reason = f"gave up after {attempts} attempts: {error.message}"
        _finish(delivery, Delivery.State.FAILED, reason, now, attempts=attempts)
        return SendResult(failed=1, errors=[error.message])
    recorded = Delivery.objects.filter(pk=delivery.pk, lease=delivery.lease).update(
        attempts=attempts, last_error=clean(error.message), due_at=now + backoff(attempts), lease="", lease_until=None
    )
    _announce(delivery, signals.RETRYING, recorded)
    logger.info("Delivery %s will be retried (attempt %s): %s", delivery.pk, attempts, error.message)
    return SendResult(retrying=1, errors=[error.message])


def _finish(
    delivery: Delivery, state: Delivery.State, reason: str, now: datetime, *, attempts: int | None = None
) -> None:
    # A reason may quote a mail server's answer, which PostgreSQL refuses to store if it holds a NUL.
    fields: dict[str, object] = {"state": state, "last_error": clean(reason), "lease": "", "lease_until": None}
    if state == Delivery.State.SENT:
        fields["sent_at"] = now
        fields["attempts"] = delivery.attempts + 1
    elif attempts is not None:
        fields["attempts"] = attempts
    # Only while this sender still holds the lease: a sender that outlived it must not overwrite another's outcome.
    recorded = Delivery.objects.filter(pk=delivery.pk, lease=delivery.lease).update(**fields)
    _announce(delivery, state, recorded)


def _announce(delivery: Delivery, outcome: str, recorded: int) -> None:
    if recorded:
        signals.delivery_recorded.send(sender=Delivery, channel=delivery.channel, outcome=outcome)


def _release(deliveries: list[Delivery]) -> int:
    return Delivery.objects.filter(pk__in=[d.pk for d in deliveries], lease__in={d.lease for d in deliveries}).update(
        lease="", lease_until=None
    )
