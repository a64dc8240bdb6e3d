"""From a status change in (simulated) WebAdMIT to a real SMTP server and a real webhook receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import SIMULATOR_KEY
from tests.notifications.conftest import WEBHOOK_SECRET
from tests.support.factories import grant, subscribe
from webadmit_dash.core.models import ExportFile, UserPreference
from webadmit_dash.notifications import delivery, fanout, words
from webadmit_dash.notifications.models import Delivery, Event, Subscription
from webadmit_dash.notifications.transports import SIGNATURE_HEADER


@pytest.fixture
def staff(upstream) -> User:
    user = User.objects.create_user("erin", "erin@example.edu", "password")
    grant(user, upstream.identities[0])
    return user


def header(message, name: str) -> str:
    return str(message[name]).strip()  # long or non-ASCII headers arrive folded onto a second line


def _text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_a_status_change_sends_exactly_one_mail_and_one_signed_webhook_call(
    upstream, staff, mail_to_smtp, receiver, webhook
):
    subscribe(staff, webhooks=[webhook])
    identity = upstream.identities[0]
    run = upstream.new_run(identity)
    fanout.fan_out()
    delivery.deliver_due()
    assert mail_to_smtp.received() == [] and receiver.received() == []  # Queued is not news

    upstream.finish(run, "Available")
    fanout.fan_out()
    delivery.deliver_due()
    # Again, as a redelivered task or the next beat would: nothing more is owed.
    fanout.fan_out()
    delivery.deliver_due()

    [message] = mail_to_smtp.received()
    export_name = run.export.name if run.export else f"Export {run.export_webadmit_id}"
    cycle = identity.cycle.replace(" - ", " \N{EN DASH} ")
    assert header(message, "Subject") == f"Ready: {export_name} · {identity.association} {cycle}"
    assert header(message, "To") == "erin@example.edu"
    link = f"https://dash.example.edu/files/{run.pk}/"
    text, html = _text(message), _html(message)
    assert text.startswith(f"Ready: {export_name}")
    assert link in text and link.replace("&", "&amp;") in html
    assert header(message, "List-Unsubscribe").startswith("<https://dash.example.edu/notifications/unsubscribe/")
    assert header(message, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    # No key, no download address (ours or WebAdMIT's pre-signed one), nothing from WebAdMIT's host.
    for secret_or_download in (SIMULATOR_KEY, "/download", "AWSAccessKeyId", "Signature=", upstream.sim.base_url):
        assert secret_or_download not in text and secret_or_download not in html

    [call] = receiver.received()
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), call.body, hashlib.sha256).hexdigest()
    assert call.headers[SIGNATURE_HEADER] == expected
    body = call.json()
    assert body["type"] == "file.available"
    assert body["url"] == link
    assert body["file"]["webadmit_id"] == run.webadmit_id
    assert SIMULATOR_KEY.encode() not in call.body
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}


def test_the_link_opens_the_file_page_and_once_the_file_is_pruned_the_list_searched_by_its_id(
    upstream, staff, mail_to_smtp
):
    subscribe(staff)
    run = upstream.new_run(upstream.identities[0])
    upstream.finish(run, "Available")
    fanout.fan_out()
    delivery.deliver_due()
    [message] = mail_to_smtp.received()
    link = next(word for word in _text(message).split() if word.startswith("https://dash.example.edu/"))
    browser = Client()
    browser.force_login(staff)
    assert link == f"https://dash.example.edu/files/{run.pk}/"
    page = browser.get(urlsplit(link).path)
    assert page.status_code == 200
    assert b'id="timeline"' in page.content and f"download-{run.pk}".encode() in page.content

    # A message told later (a retry, a digest) about a file pruned since: the list, searched by its WebAdMIT id.
    event = Event.objects.get(export_file=run)
    ExportFile.objects.filter(pk=run.pk).delete()
    event.refresh_from_db()
    link = words.tell(event).link
    assert link == f"https://dash.example.edu/?q={run.webadmit_id}&expired=1"
    assert browser.get(f"/?{urlsplit(link).query}").status_code == 200


def test_a_run_first_seen_already_finished_is_news_but_the_first_listing_is_not(upstream, staff, mail_to_smtp):
    subscribe(staff)
    fanout.fan_out()
    delivery.deliver_due()
    assert mail_to_smtp.received() == []  # the identities' first listing: history

    identity = upstream.identities[0]
    file_id = upstream.sim.add_run(identity.webadmit_id)
    upstream.sim.force(file_id, "Failed")  # finished between two refreshes
    upstream.refresh(identity)
    fanout.fan_out()
    delivery.deliver_due()
    [message] = mail_to_smtp.received()
    assert header(message, "Subject").startswith("Failed: ")


def test_the_digest_collects_a_days_events_into_one_mail(upstream, staff, mail_to_smtp, now):
    from datetime import time

    UserPreference.objects.create(user=staff, time_zone="America/New_York")
    subscribe(staff, delivery=Subscription.Delivery.DIGEST, digest_time=time(7, 30))
    identity = upstream.identities[0]
    first, second = upstream.new_run(identity), upstream.new_run(identity)
    upstream.finish(first, "Available")
    upstream.finish(second, "Empty List")
    fanout.fan_out()
    delivery.deliver_due()
    assert mail_to_smtp.received() == []  # not before 07:30 in New York

    pending = list(Delivery.objects.filter(state="pending"))
    assert len(pending) == 2 and {d.digest for d in pending} == {True}
    due = pending[0].due_at
    assert due.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).strftime("%H:%M") == "07:30"
    assert timedelta(0) < due - now <= timedelta(days=1)

    delivery.deliver_due(now=due + timedelta(minutes=1))
    delivery.deliver_due(now=due + timedelta(minutes=2))
    [message] = mail_to_smtp.received()
    assert header(message, "Subject") == "2 notifications from webadmit-dash"
    text = _text(message)
    assert "Ready: " in text and "Empty list: " in text
    assert text.count("https://dash.example.edu/files/") == 2


def test_unsubscribe_works_from_the_link_without_signing_in(upstream, staff, mail_to_smtp):
    subscription = subscribe(staff)
    identity = upstream.identities[0]
    upstream.finish(upstream.new_run(identity), "Available")
    fanout.fan_out()
    delivery.deliver_due()
    [message] = mail_to_smtp.received()
    link = next(line.split(": ", 1)[1] for line in _text(message).splitlines() if line.startswith("Stop these e-mails"))
    path = urlsplit(link).path

    browser = Client(enforce_csrf_checks=True)  # signed out, and no CSRF cookie: the token is the authority
    page = browser.get(path)
    assert page.status_code == 200 and b"Stop these e-mails?" in page.content
    subscription.refresh_from_db()
    assert subscription.email  # a GET (a mail scanner following links) changes nothing

    done = browser.post(path)
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    subscription.refresh_from_db()
    assert not subscription.email and subscription.email_unsubscribed_at is not None

    upstream.finish(upstream.new_run(identity), "Failed")
    fanout.fan_out()
    delivery.deliver_due()
    assert len(mail_to_smtp.received()) == 1


def test_a_mail_clients_one_click_post_unsubscribes(upstream, staff, mail_to_smtp):
    subscription = subscribe(staff)
    upstream.finish(upstream.new_run(upstream.identities[0]), "Available")
    fanout.fan_out()
    delivery.deliver_due()
    [message] = mail_to_smtp.received()
    path = urlsplit(header(message, "List-Unsubscribe").strip("<>")).path
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert not subscription.email


def test_a_forged_unsubscribe_link_is_refused(client, staff):
    subscription = subscribe(staff)
    response = client.post("/notifications/unsubscribe/not-a-real-token/")
    assert response.status_code == 404 and b"This link does not work" in response.content
    subscription.refresh_from_db()
    assert subscription.email
