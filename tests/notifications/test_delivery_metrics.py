"""/metrics tells the IT admin how notifications fare: attempts by channel and outcome, what is still owed, and how
long the oldest immediate one has waited (it grows while a mail server or a webhook keeps failing)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.support.factories import grant, subscribe
from tests.support.prometheus import Samples, parse, value
from webadmit_dash.notifications import delivery, fanout, signals
from webadmit_dash.notifications.models import Delivery

ATTEMPTS = "webadmit_dash_notification_deliveries_total"
PENDING = "webadmit_dash_notifications_pending"
OLDEST = "webadmit_dash_notifications_oldest_pending_seconds"


@pytest.fixture
def staff(upstream) -> User:
    user = User.objects.create_user("gita", "gita@example.edu", "password")
    grant(user, upstream.identities[0])
    return user


@pytest.fixture
def scrape(client, settings) -> Callable[[], Samples]:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network("127.0.0.1/32")]

    def read() -> Samples:
        response = client.get("/metrics")
        assert response.status_code == 200
        return parse(response.content.decode())

    return read


def _one_event(upstream) -> None:
    upstream.finish(upstream.new_run(upstream.identities[0]), "Available")
    fanout.fan_out()


def _moved(before: Samples, after: Samples, channel: str, outcome: str) -> float:
    return value(after, ATTEMPTS, channel=channel, outcome=outcome) - value(
        before, ATTEMPTS, channel=channel, outcome=outcome
    )


def test_attempts_are_counted_by_channel_and_outcome(upstream, staff, mail_to_smtp, receiver, webhook, scrape):
    subscribe(staff, webhooks=[webhook])
    receiver.statuses = [500, 410]
    start = scrape()
    # Every outcome is there from the first scrape, so rate() and alerts work before anything happened.
    for channel in ("email", "webhook"):
        for outcome in signals.OUTCOMES:
            assert (ATTEMPTS, (("channel", channel), ("outcome", outcome))) in start

    _one_event(upstream)
    owed = scrape()
    assert value(owed, PENDING, channel="email") == 1 and value(owed, PENDING, channel="webhook") == 1

    delivery.deliver_due()  # the mail goes; the webhook answers 500
    first = scrape()
    assert _moved(start, first, "email", "sent") == 1
    assert _moved(start, first, "webhook", "retrying") == 1
    assert _moved(start, first, "webhook", "sent") == 0
    assert value(first, PENDING, channel="email") == 0 and value(first, PENDING, channel="webhook") == 1

    delivery.deliver_due(now=timezone.now() + timedelta(hours=1))  # its retry: 410, gone for good
    second = scrape()
    assert _moved(first, second, "webhook", "failed") == 1
    assert _moved(first, second, "webhook", "retrying") == 0
    assert value(second, PENDING, channel="webhook") == 0
    assert value(second, OLDEST) == 0


def test_the_oldest_immediate_notification_owed_shows_how_long_it_has_waited(upstream, staff, mail_to_smtp, scrape):
    subscribe(staff)
    mail_to_smtp.stop()
    _one_event(upstream)
    delivery.deliver_due()  # the mail server is down: a retry later
    Delivery.objects.update(created_at=timezone.now() - timedelta(minutes=50))
    assert 50 * 60 <= value(scrape(), OLDEST) < 51 * 60

    # A digest waits for its time of day by design: it is owed, but not late.
    Delivery.objects.update(digest=True)
    samples = scrape()
    assert value(samples, PENDING, channel="email") == 1 and value(samples, OLDEST) == 0


def test_a_sender_that_lost_its_lease_counts_nothing(upstream, staff, mail_to_smtp, scrape):
    subscribe(staff)
    _one_event(upstream)
    [claimed] = delivery.claim(timezone.now())
    Delivery.objects.update(lease="another-sender")  # the lease expired and another sender took it
    before = scrape()
    delivery.send_claimed([claimed], timezone.now(), deadline=float("inf"))
    assert _moved(before, scrape(), "email", "sent") == 0
    assert Delivery.objects.get().state == Delivery.State.PENDING
