"""The end of a credential problem is told once (not once per identity), to those who were told of its start and
over the same channels; a rejected key is told only to those who can enter a new one; NOTIFY_ALL_CLEAR=false
tells only problems."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Permission, User
from django.utils import timezone

from tests.support.factories import subscribe
from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.core.problems import ErrorKind
from webadmit_dash.engine import credentials
from webadmit_dash.notifications import delivery, watch
from webadmit_dash.notifications.models import Delivery, Event
from webadmit_dash.webadmit.errors import KeyRejected


def subject(message) -> str:
    return str(message["Subject"]).strip()


def text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def may_change_credentials(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="change_credential"))
    return User.objects.get(pk=user.pk)  # a fresh object: permissions are cached on the old one


def reject_then_fix(credential: Credential, now):
    credentials.record_health(credential, KeyRejected("WebAdMIT rejected the API key"))
    watch.watch(now)
    delivery.deliver_due()
    credentials.record_health(credential, None)  # a new key is accepted
    result = watch.watch(now + timedelta(minutes=3))
    delivery.deliver_due(now + timedelta(minutes=3))
    return result


def test_a_fixed_key_is_told_once_to_those_who_heard_it_was_rejected(
    credential, identity, other_identity, admin_user, staff_granted, mail_to_smtp, receiver, webhook
):
    subscribe(admin_user, events=["credential"], webhooks=[webhook])
    subscribe(staff_granted, events=["credential"])  # bob cannot change credentials
    now = timezone.now()
    credentials.record_health(credential, KeyRejected("WebAdMIT rejected the API key"))
    watch.watch(now)
    delivery.deliver_due()
    [problem] = mail_to_smtp.received()
    assert subject(problem) == "Key rejected: Nursing"
    assert str(problem["To"]).strip() == "alice@example.edu"
    assert [call.json()["type"] for call in receiver.received()] == ["credential.key_rejected"]

    credentials.record_health(credential, None)
    assert watch.watch(now + timedelta(minutes=3)).all_clears == 1
    assert watch.watch(now + timedelta(minutes=4)).all_clears == 0  # told once
    delivery.deliver_due(now + timedelta(minutes=4))
    [_, all_clear] = mail_to_smtp.received()
    assert subject(all_clear) == "Key accepted again: Nursing"
    assert str(all_clear["To"]).strip() == "alice@example.edu"
    body = text(all_clear)
    assert "WebAdMIT accepts the API key “Nursing” again" in body
    assert "Back to normal: SOPHAS 2026 \N{EN DASH} 2027, PharmCAS 2026 \N{EN DASH} 2027." in body
    assert "/identities/" in body
    # One webhook call for the recovery too, however many identities recovered.
    calls = [call.json() for call in receiver.received()]
    assert [call["type"] for call in calls] == ["credential.key_rejected", "credential.key_rejected.all_clear"]
    assert calls[1]["title"] == "Key accepted again: Nursing"
    assert Event.objects.filter(all_clear=True).count() == 1


def test_a_rejected_key_is_told_to_staff_who_can_change_credentials_only(
    credential, identity, other_identity, staff_granted, staff_via_group, mail_to_smtp
):
    bob = may_change_credentials(staff_granted)
    subscribe(bob, events=["credential"])
    subscribe(staff_via_group, events=["credential"])  # sees an affected identity, cannot act on the key
    reject_then_fix(credential, timezone.now())
    problem, all_clear = mail_to_smtp.received()
    assert [subject(problem), subject(all_clear)] == ["Key rejected: Nursing", "Key accepted again: Nursing"]
    assert {str(message["To"]).strip() for message in (problem, all_clear)} == {"bob@example.edu"}
    assert "PharmCAS" not in text(all_clear)  # only the identities bob may see are named
    assert not Delivery.objects.filter(user=staff_via_group).exists()


def test_someone_who_lost_the_permission_before_the_send_is_not_told(credential, identity, staff_granted, mail_to_smtp):
    bob = may_change_credentials(staff_granted)
    subscribe(bob, events=["credential"])
    credentials.record_health(credential, KeyRejected("WebAdMIT rejected the API key"))
    watch.watch(timezone.now())
    bob.user_permissions.clear()
    delivery.deliver_due()
    assert mail_to_smtp.received() == []
    assert Delivery.objects.get().state == Delivery.State.CANCELLED


def test_unreachable_and_its_all_clear_are_told_to_every_subscriber_who_sees_it(
    credential, identity, staff_granted, settings, mail_to_smtp
):
    settings.NOTIFY_UNREACHABLE_AFTER_MINUTES = 30
    subscribe(staff_granted, events=["credential"])  # nobody here can make WebAdMIT answer: everyone may hear
    now = timezone.now()
    UserIdentity.objects.filter(pk=identity.pk).update(
        error_kind=ErrorKind.UNAVAILABLE, last_success_at=now - timedelta(hours=1)
    )
    watch.watch(now)
    delivery.deliver_due()
    UserIdentity.objects.filter(pk=identity.pk).update(error_kind=ErrorKind.NONE, last_success_at=now)
    assert watch.watch(now + timedelta(minutes=1)).all_clears == 1
    delivery.deliver_due(now + timedelta(minutes=1))
    problem, all_clear = mail_to_smtp.received()
    assert subject(problem) == "WebAdMIT unreachable: Nursing"
    assert subject(all_clear) == "WebAdMIT answering again: Nursing"
    assert "WebAdMIT answers the refreshes of credential “Nursing” again" in text(all_clear)


def test_with_all_clears_turned_off_only_the_problem_is_told(credential, identity, admin_user, settings, mail_to_smtp):
    settings.NOTIFY_ALL_CLEAR = False
    subscribe(admin_user, events=["credential"])
    assert reject_then_fix(credential, timezone.now()).all_clears == 0
    [problem] = mail_to_smtp.received()
    assert subject(problem) == "Key rejected: Nursing"
    assert not Event.objects.filter(all_clear=True).exists()


def test_no_all_clear_when_the_identities_were_disabled_but_the_key_is_still_rejected(
    credential, identity, admin_user, mail_to_smtp
):
    subscribe(admin_user, events=["credential"])
    now = timezone.now()
    credentials.record_health(credential, KeyRejected("WebAdMIT rejected the API key"))
    watch.watch(now)
    delivery.deliver_due(now)
    UserIdentity.objects.update(enabled=False)
    assert watch.watch(now + timedelta(minutes=1)).all_clears == 0
    delivery.deliver_due(now + timedelta(minutes=1))
    assert [subject(message) for message in mail_to_smtp.received()] == ["Key rejected: Nursing"]


def test_a_digest_reader_hears_the_all_clear_in_the_next_digest(credential, identity, admin_user, mail_to_smtp):
    subscribe(admin_user, events=["credential"], delivery="digest")
    reject_then_fix(credential, timezone.now())
    assert mail_to_smtp.received() == []  # both wait for the digest
    owed = Delivery.objects.filter(digest=True).order_by("pk")
    assert [d.event.all_clear for d in owed] == [False, True]
    assert owed[0].due_at == owed[1].due_at


def test_nobody_told_of_the_problem_hears_its_end(credential, identity, admin_user, mail_to_smtp):
    now = timezone.now()
    credentials.record_health(credential, KeyRejected("WebAdMIT rejected the API key"))
    watch.watch(now)
    subscribe(admin_user, events=["credential"])  # subscribed after the problem was told
    credentials.record_health(credential, None)
    assert watch.watch(now + timedelta(minutes=1)).all_clears == 1
    delivery.deliver_due(now + timedelta(minutes=1))
    assert mail_to_smtp.received() == []
