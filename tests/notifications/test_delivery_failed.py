"""A delivery that failed for good is told once: to the subscribers of its file's identity and export who chose the
event, and by e-mail to every administrator, subscribed or not; over the real SMTP server and webhook receiver."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.factories import make_file, subscribe
from webadmit_dash.collection.models import CollectedFile, Destination, FileDelivery
from webadmit_dash.core.models import ExportFile
from webadmit_dash.notifications import delivery, fanout, watch
from webadmit_dash.notifications.models import Delivery, Event, EventKind

pytestmark = pytest.mark.django_db

REASON = "The SFTP server refused the password for user slate-in (authentication failed)."


def header(message, name: str) -> str:
    return " ".join(str(message[name]).split())


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def failed_delivery(export_file: ExportFile, *, destination_name: str = "Slate SFTP", state: str = "failed"):
    """A collected file whose delivery to a destination ended as `state` (failed: after its last try)."""
    collected = CollectedFile.objects.create(
        export_file=export_file,
        identity=export_file.identity,
        file_webadmit_id=export_file.webadmit_id,
        export_webadmit_id=export_file.export_webadmit_id,
        export_name=export_file.export_name,
        state=CollectedFile.State.COLLECTED,
        finished_at=timezone.now() - timedelta(minutes=30),
        storage_name="ab/cd.bin",
        size=1234,
        sha256="ab" * 32,
        content_type="text/csv",
        collected_at=timezone.now() - timedelta(minutes=29),
    )
    destination, _ = Destination.objects.get_or_create(
        name=destination_name,
        defaults={"kind": Destination.Kind.SFTP, "host": "sftp.example.edu", "username": "slate-in"},
    )
    failed = state == FileDelivery.State.FAILED
    return FileDelivery.objects.create(
        collected=collected,
        destination=destination,
        file_name="Nightly_Banner_Export_20261205_0600_1.csv",
        state=state,
        attempts=12 if failed else 3,
        last_error=REASON if failed else "Connection refused; trying again",
        failed_at=timezone.now() - timedelta(minutes=1) if failed else None,
    )


def test_a_failed_delivery_is_mailed_to_its_subscribers_and_every_administrator_once(
    identity, staff_granted, staff_none, admin_user, mail_to_smtp
):
    export_file = make_file(identity)
    subscribe(staff_granted, events=[EventKind.DELIVERY_FAILED])
    subscribe(staff_none, events=[EventKind.DELIVERY_FAILED])  # sees no identity: hears nothing
    failure = failed_delivery(export_file)

    result = watch.watch()
    assert result.delivery_failures == 1
    assert watch.watch().delivery_failures == 0  # told: never twice
    failure.refresh_from_db()
    assert failure.told_at is not None
    delivery.deliver_due()

    received = {header(message, "To"): message for message in mail_to_smtp.received()}
    assert set(received) == {"bob@example.edu", "alice@example.edu"}
    link = f"https://dash.example.edu/files/{export_file.pk}/"
    for message in received.values():
        assert header(message, "Subject") == "Delivery failed: Nightly Banner Export to Slate SFTP"
        text = text_of(message)
        assert REASON.rstrip(".") in text
        assert link in text
        assert "Deliver again" in text
    # The subscriber can unsubscribe; the administrator's copy says why it comes and has nothing to unsubscribe.
    assert header(received["bob@example.edu"], "List-Unsubscribe").startswith("<https://dash.example.edu/")
    assert received["alice@example.edu"]["List-Unsubscribe"] is None
    assert "you are an administrator" in text_of(received["alice@example.edu"])
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}


def test_a_subscribed_administrator_gets_one_copy_in_the_way_they_chose(identity, admin_user, mail_to_smtp):
    subscribe(admin_user, events=[EventKind.DELIVERY_FAILED], delivery="digest")
    failed_delivery(make_file(identity))
    watch.watch()
    [owed] = Delivery.objects.all()
    assert owed.digest and owed.subscription is not None


def test_the_webhook_says_which_file_where_and_why(identity, staff_granted, webhook, receiver, settings):
    settings.SITE_URL = "https://dash.example.edu"
    export_file = make_file(identity)
    subscribe(staff_granted, events=[EventKind.DELIVERY_FAILED], email=False, webhooks=[webhook])
    failure = failed_delivery(export_file)
    watch.watch()
    delivery.deliver_due()
    [call] = receiver.received()
    body = call.json()
    assert body["type"] == "file.delivery_failed"
    assert body["event_id"] == f"delivery_failed:{failure.pk}"
    assert body["title"] == "Delivery failed: Nightly Banner Export to Slate SFTP"
    assert body["url"] == f"https://dash.example.edu/files/{export_file.pk}/"
    assert body["file"]["webadmit_id"] == export_file.webadmit_id
    assert body["delivery"] == {"destination": "Slate SFTP", "reason": REASON}


def test_only_subscribers_who_chose_the_event_and_the_export_hear_of_it(identity, staff_granted, staff_via_group):
    export_file = make_file(identity)
    subscribe(staff_granted, events=[EventKind.AVAILABLE])  # did not choose it
    subscribe(staff_via_group, events=[EventKind.DELIVERY_FAILED])  # may not see this identity
    failed_delivery(export_file)
    assert watch.watch().delivery_failures == 1
    assert Delivery.objects.count() == 0  # no administrator with an address, and no subscriber for it

    subscription = subscribe(staff_granted, events=[EventKind.DELIVERY_FAILED], export_names=["Another export"])
    failed_delivery(make_file(identity), destination_name="Registrar share")
    watch.watch()
    assert not Delivery.objects.filter(subscription=subscription).exists()


def test_a_delivery_still_being_retried_or_delivered_is_not_news(identity, admin_user):
    failed_delivery(make_file(identity), state=FileDelivery.State.PENDING)
    failed_delivery(make_file(identity), state=FileDelivery.State.DELIVERED)
    assert watch.watch().delivery_failures == 0
    assert not Event.objects.filter(kind=EventKind.DELIVERY_FAILED).exists()


def test_a_watch_that_died_before_stamping_tells_it_again_without_a_second_message(identity, admin_user):
    failure = failed_delivery(make_file(identity))
    watch.watch()
    # As if the stamp had been lost (a crash after the messages were recorded, on a database without the
    # transaction): the event's key and the messages' keys are the same, so nothing is owed twice.
    FileDelivery.objects.filter(pk=failure.pk).update(told_at=None)
    assert watch.watch().delivery_failures == 1
    assert Event.objects.filter(kind=EventKind.DELIVERY_FAILED).count() == 1
    assert Delivery.objects.filter(user=admin_user).count() == 1


def test_an_administrator_demoted_before_the_message_went_is_not_sent_it(identity, admin_user, mail_to_smtp):
    failed_delivery(make_file(identity))
    watch.watch()
    admin_user.is_superuser = False
    admin_user.save()
    delivery.deliver_due()
    assert mail_to_smtp.received() == []
    assert Delivery.objects.get().state == Delivery.State.CANCELLED


def test_a_pruned_files_failure_links_to_the_list_searched_by_its_id(identity, admin_user, mail_to_smtp):
    export_file = make_file(identity)
    failed_delivery(export_file)
    ExportFile.objects.filter(pk=export_file.pk).delete()
    watch.watch()
    delivery.deliver_due()
    [message] = mail_to_smtp.received()
    assert f"https://dash.example.edu/?q={export_file.webadmit_id}&expired=1" in text_of(message)


def test_a_hostile_reason_and_destination_name_stay_on_one_line(identity, admin_user, mail_to_smtp):
    failure = failed_delivery(make_file(identity), destination_name="Slate\r\nBcc: evil@example.com")
    FileDelivery.objects.filter(pk=failure.pk).update(last_error="line one\r\nline two\x07")
    watch.watch()
    delivery.deliver_due()
    [message] = mail_to_smtp.received()
    assert header(message, "Subject") == "Delivery failed: Nightly Banner Export to Slate Bcc: evil@example.com"
    assert message["Bcc"] is None
    assert "line one line two" in text_of(message)


def test_fan_out_alone_does_not_tell_failed_deliveries(identity, admin_user):
    """Failures are the watch's: the transition outbox holds WebAdMIT's statuses only."""
    failed_delivery(make_file(identity))
    fanout.fan_out()
    assert not Event.objects.filter(kind=EventKind.DELIVERY_FAILED).exists()


def test_the_subscription_form_offers_the_event(client, staff_granted):
    client.force_login(staff_granted)
    page = client.get("/notifications/").content.decode()
    assert 'value="delivery_failed"' in page and "Delivery failed" in page


def test_the_notifications_page_lists_it_with_its_destination(client, identity, staff_granted, mail_to_smtp):
    subscribe(staff_granted, events=[EventKind.DELIVERY_FAILED])
    failed_delivery(make_file(identity))
    watch.watch()
    delivery.deliver_due()
    client.force_login(staff_granted)
    page = client.get("/notifications/").content.decode()
    assert "Delivery failed: Nightly Banner Export" in page and "to Slate SFTP" in page
