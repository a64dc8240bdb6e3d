"""The webhook form in the admin: an address typed into a form that comes back with an error is still there (masked),
never the stored one; and only generic webhooks need a signing secret (Slack and Teams check no signature)."""

from __future__ import annotations

import re

from tests.notifications.conftest import WEBHOOK_SECRET
from webadmit_dash.notifications import transports
from webadmit_dash.notifications.models import Webhook

ADD = "/admin/notifications/webhook/add/"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"


def address_field(html: str) -> str:
    [field] = re.findall(r'<input[^>]*name="url"[^>]*>', html)
    return field


def test_the_typed_address_is_kept_when_the_form_comes_back_with_an_error(admin_client):
    response = admin_client.post(
        ADD, {"name": "Ops", "kind": "generic", "url": "https://hooks.example.com/ops", "secret": "too short"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Use at least 16 characters" in html
    field = address_field(html)
    assert 'value="https://hooks.example.com/ops"' in field
    assert 'type="password"' in field  # still masked on the screen
    assert "too short" not in html  # the secret is never given back
    assert not Webhook.objects.exists()


def test_the_stored_address_is_never_given_back(admin_client, webhook, receiver):
    html = admin_client.get(f"/admin/notifications/webhook/{webhook.pk}/change/").content.decode()
    assert receiver.url not in html
    assert "value=" not in address_field(html)


def test_slack_and_teams_webhooks_need_no_signing_secret(admin_client):
    for kind in ("slack", "teams"):
        response = admin_client.post(
            ADD, {"name": f"#ops on {kind}", "kind": kind, "url": SLACK_URL, "enabled": "on", "offered": "on"}
        )
        assert response.status_code == 302, response.content.decode()[:3000]
    assert sorted(Webhook.objects.values_list("kind", "secret_encrypted")) == [("slack", ""), ("teams", "")]
    assert "None (not signed" in admin_client.get("/admin/notifications/webhook/").content.decode()


def test_a_generic_webhook_still_needs_one(admin_client):
    response = admin_client.post(ADD, {"name": "Generic", "kind": "generic", "url": SLACK_URL})

    assert "Enter a signing secret (at least 16 characters)." in response.content.decode()
    assert not Webhook.objects.exists()


def test_a_webhook_without_a_secret_is_posted_unsigned(db, receiver):
    slack = Webhook(name="Slack", kind=Webhook.Kind.SLACK)
    slack.set_url(receiver.url)
    slack.save()

    assert transports.post_webhook(slack, b"{}", delivery_id="1", event_type="test") == 200
    [call] = receiver.received()
    assert transports.SIGNATURE_HEADER not in call.headers


def test_a_slack_webhook_with_a_secret_still_signs(db, receiver):
    slack = Webhook(name="Slack", kind=Webhook.Kind.SLACK)
    slack.set_url(receiver.url)
    slack.set_secret(WEBHOOK_SECRET)
    slack.save()

    transports.post_webhook(slack, b"{}", delivery_id="1", event_type="test")
    [call] = receiver.received()
    assert call.headers[transports.SIGNATURE_HEADER].startswith("sha256=")
