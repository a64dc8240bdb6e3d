"""Signing in and out, changing the password, and the time zone preference."""

from __future__ import annotations

import pytest

from webadmit_dash.core.models import UserPreference

pytestmark = pytest.mark.django_db


def test_sign_in_page_and_sign_in(client, staff_granted):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert "Sign in" in page.content.decode()
    response = client.post("/accounts/login/", {"username": "bob", "password": "password"})
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_says_so_plainly(client, staff_granted):
    response = client.post("/accounts/login/", {"username": "bob", "password": "nope"})
    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_sign_out_is_a_post(client, staff_granted):
    client.force_login(staff_granted)
    assert 'action="/accounts/logout/"' in client.get("/").content.decode()
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_password_change(client, staff_granted):
    client.force_login(staff_granted)
    assert client.get("/accounts/password/").status_code == 200
    response = client.post(
        "/accounts/password/",
        {
            "old_password": "password",
            "new_password1": "a-much-longer-passphrase",
            "new_password2": "a-much-longer-passphrase",
        },
    )
    assert response["Location"] == "/accounts/password/done/"
    assert "Password changed" in client.get("/accounts/password/done/").content.decode()
    staff_granted.refresh_from_db()
    assert staff_granted.check_password("a-much-longer-passphrase")


def test_the_time_zone_preference_is_saved_and_used(client, staff_granted):
    client.force_login(staff_granted)
    page = client.get("/preferences/").content.decode()
    assert "The institution&#x27;s zone (UTC)" in page
    response = client.post("/preferences/", {"time_zone": "America/Chicago"})
    assert response["Location"] == "/preferences/"
    assert UserPreference.objects.get(user=staff_granted).time_zone == "America/Chicago"
    assert client.session["time_zone"] == "America/Chicago"
    assert "Times are shown in America/Chicago" in client.get("/").content.decode()
    client.post("/preferences/", {"time_zone": ""})
    assert "time_zone" not in client.session


def test_an_unknown_time_zone_is_refused(client, staff_granted):
    client.force_login(staff_granted)
    response = client.post("/preferences/", {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_the_preference_follows_the_user_to_a_new_sign_in(client, staff_granted):
    UserPreference.objects.create(user=staff_granted, time_zone="Europe/Paris")
    client.post("/accounts/login/", {"username": "bob", "password": "password"})
    assert client.session["time_zone"] == "Europe/Paris"
    assert "Times are shown in Europe/Paris" in client.get("/").content.decode()


def test_pages_need_sign_in(client, identity):
    for url in ("/", "/identities/", "/preferences/", "/accounts/password/"):
        assert client.get(url)["Location"].startswith("/accounts/login/"), url


def test_the_identities_page_lists_only_visible_identities(client, staff_via_group, identity, other_identity):
    client.force_login(staff_via_group)
    html = client.get("/identities/").content.decode()
    assert "PharmCAS · College of Pharmacy" in html
    assert "SOPHAS" not in html
    assert f'action="/identities/{other_identity.pk}/refresh/"' in html


def test_unknown_pages_get_our_404(client, staff_granted):
    client.force_login(staff_granted)
    response = client.get("/files/424242/download/")
    assert response.status_code == 404
    assert "belongs to an identity you have not been given access to" in response.content.decode()
