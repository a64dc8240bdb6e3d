"""Faults on the way out: a mail server down for a while, a webhook failing then recovering, a webhook gone for good,
a refused address, and a worker killed between the commit and the send."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.support.factories import grant, subscribe
from tests.support.waiting import eventually
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.notifications import delivery, fanout
from webadmit_dash.notifications.models import Delivery


@pytest.fixture
def staff(upstream) -> User:
    user = User.objects.create_user("frank", "frank@example.edu", "password")
    grant(user, upstream.identities[0])
    return user


def _one_event(upstream, status: str = "Available") -> None:
    upstream.finish(upstream.new_run(upstream.identities[0]), status)
    fanout.fan_out()


def test_mail_waits_while_the_smtp_server_is_down_and_goes_once_when_it_returns(upstream, staff, mail_to_smtp):
    subscribe(staff)
    mail_to_smtp.stop()
    _one_event(upstream)
    result = delivery.deliver_due()
    assert result.retrying == 1 and result.sent == 0
    [pending] = Delivery.objects.all()
    assert pending.state == "pending" and pending.attempts == 1
    assert "could not be reached" in pending.last_error
    assert pending.due_at > timezone.now()  # backoff: not again at once

    delivery.deliver_due()  # still down and not yet due: nothing tried
    assert Delivery.objects.get().attempts == 1

    later = pending.due_at + timedelta(seconds=1)
    delivery.deliver_due(now=later)  # still down: a second attempt, backing off further
    assert Delivery.objects.get().attempts == 2

    mail_to_smtp.start()
    delivery.deliver_due(now=later + timedelta(hours=2))
    delivery.deliver_due(now=later + timedelta(hours=3))
    assert len(mail_to_smtp.received()) == 1
    sent = Delivery.objects.get()
    assert sent.state == "sent" and sent.attempts == 3


def test_a_webhook_answering_500_then_200_gets_the_event_once(upstream, staff, receiver, webhook):
    subscribe(staff, email=False, webhooks=[webhook])
    receiver.statuses = [500]
    _one_event(upstream)
    assert delivery.deliver_due().retrying == 1
    [pending] = Delivery.objects.all()
    assert pending.last_error == "127.0.0.1 answered 500" and webhook.get_url() not in pending.last_error

    delivery.deliver_due(now=timezone.now() + timedelta(hours=1))
    delivery.deliver_due(now=timezone.now() + timedelta(hours=2))
    calls = receiver.received()
    assert len(calls) == 2  # the refused attempt and the accepted one, nothing after
    assert calls[0].body != b"" and calls[0].headers["X-Webadmit-Delivery"] == calls[1].headers["X-Webadmit-Delivery"]
    assert Delivery.objects.get().state == "sent"


def test_a_webhook_answering_410_is_marked_failed_and_not_retried(upstream, staff, receiver, webhook, admin_client):
    subscribe(staff, email=False, webhooks=[webhook])
    receiver.statuses = [410, 410, 410]
    _one_event(upstream)
    assert delivery.deliver_due().failed == 1
    for hours in (1, 10, 100):
        delivery.deliver_due(now=timezone.now() + timedelta(hours=hours))
    assert len(receiver.received()) == 1
    failed = Delivery.objects.get()
    assert failed.state == "failed" and failed.attempts == 1 and "410 Gone" in failed.last_error

    page = admin_client.get("/admin/notifications/delivery/?state__exact=failed")
    assert page.status_code == 200 and b"410 Gone" in page.content


def test_an_address_the_mail_server_refuses_is_failed_for_good(upstream, staff, mail_to_smtp):
    subscribe(staff)
    mail_to_smtp.refused["frank@example.edu"] = "550 5.1.1 No such mailbox"
    _one_event(upstream)
    assert delivery.deliver_due().failed == 1
    delivery.deliver_due(now=timezone.now() + timedelta(days=1))
    failed = Delivery.objects.get()
    assert failed.state == "failed" and "550" in failed.last_error and "No such mailbox" in failed.last_error


def test_an_unavailable_address_is_retried_not_failed(upstream, staff, mail_to_smtp):
    subscribe(staff)
    mail_to_smtp.refused["frank@example.edu"] = "450 4.2.1 Mailbox busy, try later"
    _one_event(upstream)
    assert delivery.deliver_due().retrying == 1
    del mail_to_smtp.refused["frank@example.edu"]
    delivery.deliver_due(now=timezone.now() + timedelta(hours=1))
    assert len(mail_to_smtp.received()) == 1


@pytest.mark.worker
@pytest.mark.timeout(240)
def test_a_worker_killed_between_commit_and_send_delivers_once_after_restart(transactional_db, upstream, staff, smtp):
    """The transition commits; the worker fans it out and starts sending; it is SIGKILLed while the mail server
    holds it at RCPT (nothing delivered). A new worker sends the message once its dead predecessor's lease ends."""
    subscribe(staff)
    run = upstream.new_run(upstream.identities[0])
    purge_queue()
    env = {
        **smtp.environment,
        "NOTIFY_FAN_OUT_EVERY": "1",
        "NOTIFY_SEND_LEASE_SECONDS": "5",
        "WEBADMIT_DISPATCH_EVERY": "300",  # the engine stays out of it: this test commits the transition itself
    }
    smtp.gate.clear()
    first = CeleryWorker(beat=True, env=env, name="notify-kill").start()
    try:
        upstream.finish(run, "Available")  # committed: the outbox row exists
        assert smtp.rcpt_seen.wait(60), first.log()[-3000:]
        first.kill()  # SIGKILL, mid-send: no warm shutdown, the lease stays taken
    finally:
        first.close()
    smtp.gate.set()
    assert smtp.received() == []
    [held] = Delivery.objects.all()
    assert held.state == "pending" and held.lease  # still claimed by the dead worker

    second = CeleryWorker(beat=True, env=env, name="notify-restart").start()
    try:
        eventually(lambda: Delivery.objects.filter(state="sent").exists(), 90, "the delivery to be sent")
        eventually(lambda: smtp.received(), 10, "the message")
        # Beat keeps running deliver_due every 15 s: nothing more goes.
        deadline = timezone.now() + timedelta(seconds=20)
        eventually(lambda: timezone.now() > deadline, 30, "a quiet while")
    finally:
        second.close()
    assert len(smtp.received()) == 1
    assert Delivery.objects.get().attempts == 1
