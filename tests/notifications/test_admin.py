"""The admin: webhooks with a write-only address and secret, a test message for a webhook or a subscriber, the
deliveries with their state and reason; and the demo admin's subscription for `make run`."""

from __future__ import annotations

import hashlib
import hmac
import json

from django.contrib.auth.models import User

from tests.notifications.conftest import WEBHOOK_SECRET
from tests.support.factories import subscribe
from webadmit_dash.notifications.models import Subscription, Webhook
from webadmit_dash.stack import demo


def test_a_webhook_is_added_with_its_address_and_secret_never_shown_again(admin_client, receiver):
    response = admin_client.post(
        "/admin/notifications/webhook/add/",
        {"name": "Slack #ops", "kind": "slack", "url": receiver.url, "secret": WEBHOOK_SECRET, "enabled": "on",
         "offered": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    webhook = Webhook.objects.get()
    assert webhook.get_url() == receiver.url and webhook.get_secret() == WEBHOOK_SECRET
    assert receiver.url not in webhook.url_encrypted and WEBHOOK_SECRET not in webhook.secret_encrypted
    for page in (f"/admin/notifications/webhook/{webhook.pk}/change/", "/admin/notifications/webhook/"):
        content = admin_client.get(page).content.decode()
        assert receiver.url not in content and WEBHOOK_SECRET not in content
    assert "••••••••tify" in admin_client.get("/admin/notifications/webhook/").content.decode()


def test_plain_http_webhooks_are_refused_unless_on_this_machine(admin_client):
    response = admin_client.post(
        "/admin/notifications/webhook/add/",
        {"name": "Leaky", "kind": "generic", "url": "http://hooks.example.com/x", "secret": WEBHOOK_SECRET},
    )
    assert response.status_code == 200 and "must start with https://" in response.content.decode()
    assert not Webhook.objects.exists()


def test_the_test_message_action_reaches_the_webhook_signed(admin_client, webhook, receiver):
    response = admin_client.post(
        "/admin/notifications/webhook/",
        {"action": "send_test", "_selected_action": [str(webhook.pk)]},
        follow=True,
    )
    assert "the test message was accepted (200)" in response.content.decode()
    [call] = receiver.received()
    assert call.json()["type"] == "test"
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), call.body, hashlib.sha256).hexdigest()
    assert call.headers["X-Webadmit-Signature-256"] == signature


def test_the_test_message_action_mails_the_subscriber(admin_client, staff_granted, mail_to_smtp):
    subscription = subscribe(staff_granted)
    response = admin_client.post(
        "/admin/notifications/subscription/",
        {"action": "send_test", "_selected_action": [str(subscription.pk)]},
        follow=True,
    )
    assert "the test message was handed to the mail server" in response.content.decode()
    [message] = mail_to_smtp.received()
    assert str(message["Subject"]).strip() == "Test message from webadmit-dash"
    assert str(message["To"]) == "bob@example.edu"


def test_the_test_message_action_says_when_the_mail_server_is_down(admin_client, staff_granted, mail_to_smtp):
    subscription = subscribe(staff_granted)
    mail_to_smtp.stop()
    response = admin_client.post(
        "/admin/notifications/subscription/",
        {"action": "send_test", "_selected_action": [str(subscription.pk)]},
        follow=True,
    )
    assert "the mail server could not be reached" in response.content.decode()


def test_slack_and_teams_webhooks_get_their_own_shapes(upstream, receiver, webhook):
    from tests.support.factories import grant
    from webadmit_dash.notifications import delivery, fanout

    teams = Webhook(name="Teams", kind=Webhook.Kind.TEAMS)
    teams.set_url(receiver.url + "?teams")
    teams.set_secret(WEBHOOK_SECRET)
    teams.save()
    Webhook.objects.filter(pk=webhook.pk).update(kind=Webhook.Kind.SLACK)
    user = User.objects.create_user("lee", "", "password")
    grant(user, upstream.identities[0])
    subscribe(user, email=False, webhooks=[webhook, teams])
    upstream.finish(upstream.new_run(upstream.identities[0]), "Success With Errors")
    fanout.fan_out()
    delivery.deliver_due()
    calls = {call.path: json.loads(call.body) for call in receiver.received()}
    slack, card = calls["/hook"], calls["/hook?teams"]
    assert slack["text"].startswith("*Ready with errors: ") and "|Open it on the dashboard>" in slack["text"]
    content = card["attachments"][0]["content"]
    assert card["type"] == "message" and content["type"] == "AdaptiveCard"
    assert content["body"][0]["text"].startswith("Ready with errors: ")
    assert "/files/" in content["actions"][0]["url"]


def test_the_demo_admin_is_subscribed_once(db):
    login = demo.ensure_demo_admin()
    assert demo.ensure_demo_subscription() is True
    assert demo.ensure_demo_subscription() is False
    subscription = Subscription.objects.get(user__username=login.username)
    assert subscription.all_identities and subscription.email and subscription.user.email == "admin@localhost"
    assert set(subscription.events) == {
        "available",
        "success_with_errors",
        "empty_list",
        "failed",
        "stuck",
        "credential",
        "delivery_failed",
        "missing",
        "arrived_late",
    }


def test_key_rotation_reencrypts_webhook_addresses_and_secrets(webhook, receiver, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, *settings.ENCRYPTION_KEYS]
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.ENCRYPTION_KEYS = [new_key]  # the old key removed
    webhook.refresh_from_db()
    assert webhook.get_url() == receiver.url and webhook.get_secret() == WEBHOOK_SECRET
