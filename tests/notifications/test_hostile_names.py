"""Names from WebAdMIT are data: a line break in an export's name never reaches a mail header, markup in it never
becomes a Slack mention or a Teams link, and one message that cannot be sent never holds back the others."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from tests.notifications.conftest import WEBHOOK_SECRET, name_exports
from tests.support.factories import grant, subscribe
from webadmit_dash.notifications import delivery, fanout
from webadmit_dash.notifications.models import Delivery, Webhook


@pytest.fixture
def staff(upstream) -> User:
    user = User.objects.create_user("ines", "ines@example.edu", "password")
    grant(user, upstream.identities[0])
    return user


def _one_event(upstream) -> None:
    upstream.finish(upstream.new_run(upstream.identities[0]), "Available")
    fanout.fan_out()


def test_a_line_break_in_an_export_name_gives_a_one_line_subject(upstream, staff, mail_to_smtp):
    subscribe(staff)
    name_exports(upstream.sim, upstream.identities[0], "Nightly\r\nBcc: eve@evil.example\n\tBanner export")
    _one_event(upstream)
    result = delivery.deliver_due()
    assert result.sent == 1, result
    [message] = mail_to_smtp.received()
    subject = str(message["Subject"]).strip()  # a long subject arrives folded, after a space
    assert subject.startswith("Ready: Nightly Bcc: eve@evil.example Banner export · ")
    assert "\r" not in subject and "\n" not in subject
    assert message["Bcc"] is None and [str(message["To"])] == ["ines@example.edu"]
    assert Delivery.objects.get().state == "sent"


def test_a_message_that_raises_an_unexpected_error_fails_with_its_reason_and_the_rest_of_the_claim_goes(
    upstream, staff, mail_to_smtp
):
    # An address with a line break (as a sign-in provider could send it): Django refuses to build the message.
    broken = User.objects.create_user("eve", "eve@example.edu\nBcc: mallory@example.com", "password")
    grant(broken, upstream.identities[0])
    subscribe(broken)  # claimed first: her failure must not stop the others'
    subscribe(staff)
    _one_event(upstream)
    result = delivery.deliver_due()
    assert (result.sent, result.failed) == (1, 1), result
    assert [str(m["To"]) for m in mail_to_smtp.received()] == ["ines@example.edu"]
    failed = Delivery.objects.get(user=broken)
    assert failed.state == "failed" and failed.attempts == 1
    assert "unexpected error" in failed.last_error and "Invalid address" in failed.last_error
    assert not Delivery.objects.exclude(lease="").exists()  # no claim left to expire
    assert delivery.deliver_due().sent == 0  # failed for good: not tried again every lease


def test_an_unexpected_error_on_one_webhook_does_not_stop_the_next(upstream, staff, receiver, webhook):
    broken = Webhook(name="Broken", kind=Webhook.Kind.GENERIC)
    broken.set_url(receiver.url + "?broken")
    broken.set_secret(WEBHOOK_SECRET)
    broken.url_encrypted = "not a token"  # unreadable: decrypting it raises, which no transport foresees
    broken.save()
    subscribe(staff, email=False, webhooks=[broken, webhook])
    _one_event(upstream)
    result = delivery.deliver_due()
    assert (result.sent, result.failed) == (1, 1), result
    assert [call.path for call in receiver.received()] == ["/hook"]
    failed = Delivery.objects.get(webhook=broken)
    assert failed.state == "failed" and "unexpected error" in failed.last_error
    assert "not a token" not in failed.last_error


def test_slack_bodies_keep_mentions_and_links_in_names_literal(upstream, staff, receiver, webhook):
    Webhook.objects.filter(pk=webhook.pk).update(kind=Webhook.Kind.SLACK)
    subscribe(staff, email=False, webhooks=[webhook])
    name_exports(upstream.sim, upstream.identities[0], "<!channel> <https://evil.example|click> & *bold*")
    _one_event(upstream)
    delivery.deliver_due()
    [call] = receiver.received()
    text = json.loads(call.body)["text"]
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; *bold*" in text
    assert "<!channel>" not in text and "<https://evil.example" not in text
    # Our own link is still markup: the only "<" left opens it.
    assert text.count("<") == 1 and "|Open it on the dashboard>" in text


def test_teams_cards_keep_markdown_and_links_in_names_literal(upstream, staff, receiver, webhook):
    Webhook.objects.filter(pk=webhook.pk).update(kind=Webhook.Kind.TEAMS)
    subscribe(staff, email=False, webhooks=[webhook])
    name_exports(upstream.sim, upstream.identities[0], "[x](https://evil.example) **bold** _it_ # <b>")
    _one_event(upstream)
    delivery.deliver_due()
    [call] = receiver.received()
    content = json.loads(call.body)["attachments"][0]["content"]
    headline, sentence = (block["text"] for block in content["body"])
    escaped = r"\[x\]\(https://evil.example\) \*\*bold\*\* \_it\_ \# \<b\>"
    assert escaped in headline and escaped in sentence
    assert "/files/" in content["actions"][0]["url"]  # our own link is still one


def test_a_mail_servers_refusal_holding_a_nul_is_recorded_without_it(upstream, staff, mail_to_smtp):
    subscribe(staff)
    mail_to_smtp.refused["ines@example.edu"] = "550 5.1.1 No such\x00 mailbox"
    _one_event(upstream)
    assert delivery.deliver_due().failed == 1
    failed = Delivery.objects.get()
    assert failed.state == "failed" and "550 5.1.1 No such mailbox" in failed.last_error
