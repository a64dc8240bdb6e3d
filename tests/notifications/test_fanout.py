"""The outbox: each recorded transition is fanned out exactly once, whatever the repeats, and PostgreSQL's
out-of-order commits cannot make it skip one (a flag per row, not an id cursor)."""

from __future__ import annotations

from django.contrib.auth.models import User

from tests.support.factories import grant, subscribe
from webadmit_dash.core.models import StatusChange
from webadmit_dash.notifications import fanout
from webadmit_dash.notifications.models import Delivery, Event


def test_each_transition_is_fanned_out_once(upstream):
    user = User.objects.create_user("ivy", "ivy@example.edu", "password")
    grant(user, upstream.identities[0])
    subscribe(user)
    subscribe(user, export_names=["no such export"])  # matches nothing: owes nothing
    subscribe(user)  # a second matching subscription: still one mail
    run = upstream.new_run(upstream.identities[0])
    upstream.finish(run, "Available")
    assert StatusChange.objects.filter(fanned_out_at__isnull=True).exists()

    first = fanout.fan_out()
    assert (first.events, first.deliveries) == (1, 1)
    assert fanout.fan_out().transitions == 0  # the outbox is empty
    StatusChange.objects.update(fanned_out_at=None)  # as if the stamp had been lost: the keys still hold
    fanout.fan_out()
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1
    assert not StatusChange.objects.filter(fanned_out_at__isnull=True).exists()


def test_a_row_committed_late_with_a_smaller_id_is_not_skipped(upstream):
    user = User.objects.create_user("jo", "jo@example.edu", "password")
    grant(user, upstream.identities[0])
    subscribe(user)
    first, second = upstream.new_run(upstream.identities[0]), upstream.new_run(upstream.identities[0])
    upstream.finish(first, "Failed")
    upstream.finish(second, "Available")
    fanout.fan_out()
    late = StatusChange.objects.filter(new_status="failed").get()
    # Make the Failed row look like one that committed after the fan-out had passed its id.
    StatusChange.objects.filter(pk=late.pk).update(fanned_out_at=None)
    Event.objects.filter(key=f"status:{late.pk}").delete()
    fanout.fan_out()
    assert Event.objects.filter(key=f"status:{late.pk}").exists()


def test_unfinished_statuses_are_not_news(upstream):
    user = User.objects.create_user("kim", "kim@example.edu", "password")
    grant(user, upstream.identities[0])
    subscribe(user)
    run = upstream.new_run(upstream.identities[0])
    upstream.finish(run, "In Progress")
    result = fanout.fan_out()
    assert result.transitions >= 2 and result.events == 0
