"""/notifications/: each user's own subscriptions, behind sign-in; someone else's are not found."""

from __future__ import annotations

from django.contrib.auth.models import User

from tests.support.factories import subscribe, subscription_form
from webadmit_dash.notifications.models import Subscription


def test_the_page_needs_sign_in(client):
    response = client.get("/notifications/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_is_in_the_navigation(client, staff_granted):
    client.force_login(staff_granted)
    page = client.get("/").content.decode()
    assert 'href="/notifications/"' in page and ">Notifications<" in page


def test_a_user_subscribes_edits_and_deletes(client, staff_granted, identity):
    client.force_login(staff_granted)
    assert b"You have no subscriptions yet" in client.get("/notifications/").content
    response = client.post("/notifications/", subscription_form(events=["available", "stuck"]))
    assert response.status_code == 302
    subscription = Subscription.objects.get(user=staff_granted)
    assert subscription.events == ["available", "stuck"] and subscription.all_identities and subscription.email

    page = client.get("/notifications/").content.decode()
    assert "Every identity I may see" in page and "Stuck" in page and "bob@example.edu" in page

    edited = client.post(
        f"/notifications/{subscription.pk}/",
        subscription_form(delivery="digest", digest_time="18:15", scope="some", identities=[str(identity.pk)]),
    )
    assert edited.status_code == 302
    subscription.refresh_from_db()
    assert subscription.is_digest and subscription.digest_time.strftime("%H:%M") == "18:15"
    assert list(subscription.identities.all()) == [identity]

    assert client.post(f"/notifications/{subscription.pk}/delete/").status_code == 302
    assert not Subscription.objects.exists()


def test_the_form_says_what_is_missing(client, staff_granted, webhook):
    client.force_login(staff_granted)
    response = client.post("/notifications/", {"scope": "some", "delivery": "digest", "digest_time": "", "events": []})
    content = response.content.decode()
    assert response.status_code == 400
    assert "Choose at least one event to hear about." in content
    assert "Choose at least one identity" in content
    assert "Choose the time of day the digest should arrive." in content

    both = client.post(
        "/notifications/", subscription_form(delivery="digest", digest_time="08:00", webhooks=[str(webhook.pk)])
    )
    assert both.status_code == 400 and "A daily digest goes by e-mail only" in both.content.decode()
    nowhere = client.post("/notifications/", subscription_form(email=""))
    assert nowhere.status_code == 400 and "Choose where to send notifications" in nowhere.content.decode()


def test_a_user_without_an_address_is_told_so(client, staff_granted):
    User.objects.filter(pk=staff_granted.pk).update(email="")
    client.force_login(staff_granted)
    response = client.post("/notifications/", subscription_form())
    assert response.status_code == 400 and "Your account has no e-mail address" in response.content.decode()


def test_someone_elses_subscription_is_not_found(client, staff_granted, staff_none):
    theirs = subscribe(staff_granted)
    client.force_login(staff_none)
    assert client.get(f"/notifications/{theirs.pk}/").status_code == 404
    assert client.post(f"/notifications/{theirs.pk}/delete/").status_code == 404
    assert client.get("/notifications/99999999999999999999999/").status_code == 404
    assert Subscription.objects.filter(pk=theirs.pk).exists()
    assert "bob@example.edu" not in client.get("/notifications/").content.decode()


def test_webhooks_offered_to_users_are_choosable(client, staff_granted, webhook):
    client.force_login(staff_granted)
    page = client.get("/notifications/").content.decode()
    assert "Ops channel" in page and webhook.get_url() not in page
    assert client.post("/notifications/", subscription_form(webhooks=[str(webhook.pk)])).status_code == 302
    assert list(Subscription.objects.get().webhooks.all()) == [webhook]
