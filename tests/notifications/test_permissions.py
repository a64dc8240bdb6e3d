"""Only identities a user may see ever produce notifications for them: when the deliveries are recorded, again just
before sending, and on the subscription form, whatever ids a crafted form sends."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.support.factories import grant, subscribe, subscription_form
from webadmit_dash.core.models import IdentityGrant
from webadmit_dash.notifications import delivery, fanout
from webadmit_dash.notifications.models import Delivery, Subscription, Webhook


@pytest.fixture
def granted(upstream) -> User:
    user = User.objects.create_user("gina", "gina@example.edu", "password")
    grant(user, upstream.identities[0])
    return user


@pytest.fixture
def outsider(upstream) -> User:
    """Granted the second identity only."""
    user = User.objects.create_user("hal", "hal@example.edu", "password")
    grant(user, upstream.identities[1])
    return user


def _event_on_first_identity(upstream) -> None:
    upstream.finish(upstream.new_run(upstream.identities[0]), "Failed")
    fanout.fan_out()


def test_a_user_without_a_grant_never_gets_the_identitys_events(upstream, granted, outsider, mail_to_smtp):
    subscribe(granted)
    subscribe(outsider)  # "every identity I may see"
    # Even a subscription naming the identity outright (as the admin could save) is limited to what they may see.
    subscribe(outsider, identities=[upstream.identities[0]])
    _event_on_first_identity(upstream)
    delivery.deliver_due()
    assert [str(m["To"]) for m in mail_to_smtp.received()] == ["gina@example.edu"]
    assert not Delivery.objects.filter(user=outsider).exists()


def test_revoking_a_grant_stops_messages_already_owed(upstream, granted, mail_to_smtp):
    subscribe(granted)
    _event_on_first_identity(upstream)
    assert Delivery.objects.filter(user=granted, state="pending").count() == 1
    IdentityGrant.objects.filter(user=granted).delete()
    delivery.deliver_due()
    assert mail_to_smtp.received() == []
    cancelled = Delivery.objects.get(user=granted)
    assert cancelled.state == "cancelled" and "may no longer see" in cancelled.last_error


def test_every_identity_includes_those_granted_later(upstream, granted, mail_to_smtp):
    subscribe(granted)
    grant(granted, upstream.identities[1])
    upstream.finish(upstream.new_run(upstream.identities[1]), "Available")
    fanout.fan_out()
    delivery.deliver_due()
    assert len(mail_to_smtp.received()) == 1


def test_an_inactive_user_gets_nothing(upstream, granted, mail_to_smtp):
    subscribe(granted)
    _event_on_first_identity(upstream)
    User.objects.filter(pk=granted.pk).update(is_active=False)
    delivery.deliver_due()
    assert mail_to_smtp.received() == []
    assert Delivery.objects.get().state == "cancelled"


def test_a_crafted_form_naming_an_identity_the_user_cannot_see_is_refused(client, upstream, granted):
    client.force_login(granted)
    hidden = upstream.identities[1]
    response = client.post("/notifications/", subscription_form(scope="some", identities=[str(hidden.pk)]))
    assert response.status_code == 400
    assert f"Identity {hidden.pk} is not one you may see, so you cannot subscribe to it.".encode() in response.content
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("bad", ["abc", "-1", "99999999999999999999999", "9223372036854775808", "1e3", "", " "])
def test_nonsense_identity_ids_are_refused_with_a_form_error_not_a_crash(client, upstream, granted, bad):
    client.force_login(granted)
    response = client.post("/notifications/", subscription_form(scope="some", identities=[bad]))
    assert response.status_code == 400
    assert not Subscription.objects.exists()


def test_a_crafted_export_name_or_unoffered_webhook_is_refused(client, upstream, granted, webhook):
    Webhook.objects.filter(pk=webhook.pk).update(offered=False)
    client.force_login(granted)
    response = client.post(
        "/notifications/", subscription_form(export_names=["Someone Else's Export"], webhooks=[str(webhook.pk)])
    )
    assert response.status_code == 400
    assert b"is not an export of the identities you may see" in response.content
    assert f"Webhook {webhook.pk} is not offered to you.".encode() in response.content
    assert not Subscription.objects.exists()


def test_a_visible_identity_is_accepted(client, upstream, granted):
    client.force_login(granted)
    mine = upstream.identities[0]
    response = client.post("/notifications/", subscription_form(scope="some", identities=[str(mine.pk)]))
    assert response.status_code == 302
    subscription = Subscription.objects.get()
    assert subscription.user == granted and not subscription.all_identities
    assert list(subscription.identities.all()) == [mine]
