"""Credential problems are news once per episode: a key rejected, or WebAdMIT unreachable for longer than the
threshold; told only to those who may see an affected identity, naming only those identities."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.support.factories import subscribe
from webadmit_dash.core.models import UserIdentity
from webadmit_dash.core.problems import ErrorKind
from webadmit_dash.engine import credentials
from webadmit_dash.notifications import delivery, watch
from webadmit_dash.notifications.models import CredentialAlert, Delivery, Event
from webadmit_dash.webadmit.errors import KeyRejected


def test_a_rejected_key_is_told_once_per_episode(credential, identity, other_identity, staff_granted, mail_to_smtp):
    # bob may enter a new key (a rejected key is told only to those who can), and sees only `identity`.
    staff_granted.user_permissions.add(Permission.objects.get(codename="change_credential"))
    subscribe(staff_granted, events=["credential"])
    now = timezone.now()
    credentials.record_health(credential, KeyRejected("WebAdMIT rejected the API key"))
    assert watch.watch(now).credential_problems == 1
    assert watch.watch(now + timedelta(minutes=5)).credential_problems == 0  # still rejected: same episode
    delivery.deliver_due()
    [message] = mail_to_smtp.received()
    assert str(message["Subject"]).strip() == "Key rejected: Nursing"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "SOPHAS 2026 \N{EN DASH} 2027" in text
    assert "PharmCAS" not in text  # an affected identity bob may not see is not named to him
    assert "/identities/" in text

    credentials.record_health(credential, None)  # a new key works
    watch.watch(now + timedelta(minutes=10))
    assert CredentialAlert.objects.get().ended_at is not None
    credentials.record_health(credential, KeyRejected("WebAdMIT rejected the API key"))
    assert watch.watch(now + timedelta(days=3)).credential_problems == 1  # a new episode is news again
    assert Event.objects.filter(kind="credential", all_clear=False).count() == 2


def test_unreachable_is_told_after_the_threshold_only(identity, staff_granted, settings):
    settings.NOTIFY_UNREACHABLE_AFTER_MINUTES = 30
    subscribe(staff_granted, events=["credential"])
    now = timezone.now()
    UserIdentity.objects.filter(pk=identity.pk).update(
        error_kind=ErrorKind.UNAVAILABLE, last_success_at=now - timedelta(minutes=20)
    )
    assert watch.watch(now).credential_problems == 0
    assert watch.watch(now + timedelta(minutes=11)).credential_problems == 1
    assert watch.watch(now + timedelta(minutes=12)).credential_problems == 0
    event = Event.objects.get(kind="credential")
    assert event.status == "unreachable" and event.affected_identity_ids == [identity.pk]
    assert Delivery.objects.filter(user=staff_granted).count() == 1


def test_someone_who_sees_no_affected_identity_hears_nothing(credential, identity, staff_via_group, staff_none):
    subscribe(staff_via_group, events=["credential"])  # sees other_identity, of the same credential
    subscribe(staff_none, events=["credential"])
    UserIdentity.objects.exclude(pk=identity.pk).update(enabled=False)  # only `identity` is affected
    credentials.record_health(credential, KeyRejected("rejected"))
    watch.watch(timezone.now())
    assert Event.objects.filter(kind="credential").count() == 1
    assert not Delivery.objects.exists()


def test_a_subscription_without_the_credential_event_hears_nothing_of_it(credential, identity, staff_granted):
    subscribe(staff_granted, events=["available", "failed"])
    credentials.record_health(credential, KeyRejected("rejected"))
    watch.watch(timezone.now())
    assert not Delivery.objects.exists()
