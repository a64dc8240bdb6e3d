"""Sign-in throttling on both doors (the site's sign-in and the admin's): too many wrong passwords for one user name
from one address lock that pair out until the cool-off ends, the right password included."""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.db.models import F
from django.test import Client

pytestmark = pytest.mark.django_db

DOORS = {"site": "/accounts/login/", "admin": "/admin/login/"}
WRONG = "not-the-password-9f3a"


def sign_in(client, door: str, password: str, username: str = "alice", address: str = "203.0.113.7"):
    return client.post(DOORS[door], {"username": username, "password": password, "next": "/"}, REMOTE_ADDR=address)


def fail(client, door: str, times: int, **kwargs) -> None:
    for attempt in range(1, times + 1):
        response = sign_in(client, door, WRONG, **kwargs)
        assert response.status_code == 200, f"wrong password #{attempt} was not answered with the form"


def lock_out(client, door: str, **kwargs) -> None:
    fail(client, door, settings.LOGIN_FAILURES_ALLOWED, **kwargs)
    assert sign_in(client, door, WRONG, **kwargs).status_code == 429


def end_the_cool_off() -> None:
    """Moves the recorded failures back past the cool-off, as if its minutes had passed."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))


@pytest.mark.parametrize("door", DOORS)
def test_the_sixth_wrong_password_in_a_minute_locks_out(client, admin_user, door):
    assert settings.LOGIN_FAILURES_ALLOWED == 5
    fail(client, door, 5)
    response = sign_in(client, door, WRONG)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in paused" in page
    assert "Too many wrong passwords for “alice” from this computer." in page
    assert "Even the right password is refused until then." in page


@pytest.mark.parametrize("door", DOORS)
def test_the_right_password_is_refused_until_the_cool_off_ends(client, admin_user, door):
    lock_out(client, door)
    locked = sign_in(client, door, "password")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    end_the_cool_off()
    signed_in = sign_in(client, door, "password")
    assert signed_in.status_code == 302
    assert client.session["_auth_user_id"] == str(admin_user.pk)


def test_the_lockout_ends_a_cool_off_after_it_began_however_often_the_owner_retries(client, admin_user):
    lock_out(client, "site")
    for _ in range(3):
        assert sign_in(client, "site", "password").status_code == 429
    # Retries during the lockout were not counted: ending the cool-off of the six failures ends the lockout.
    assert AccessAttempt.objects.get().failures_since_start == 6
    end_the_cool_off()
    assert sign_in(client, "site", "password").status_code == 302


def test_a_lockout_holds_for_one_user_name_from_one_address_only(client, admin_user, staff_granted):
    lock_out(client, "site")
    assert sign_in(client, "site", "password", address="198.51.100.20").status_code == 302
    client.logout()
    assert sign_in(client, "site", "password", username="bob").status_code == 302


def test_a_successful_sign_in_forgets_the_earlier_failures(client, admin_user):
    fail(client, "site", 5)
    assert sign_in(client, "site", "password").status_code == 302
    client.logout()
    fail(client, "site", 5)
    assert sign_in(client, "site", "password").status_code == 302


def test_failed_sign_ins_are_logged_without_the_password(client, admin_user, caplog):
    with caplog.at_level(logging.WARNING):
        fail(client, "site", 1)  # both doors count towards one lockout
        fail(client, "admin", 4)
        assert sign_in(client, "admin", WRONG).status_code == 429
    failures = [record.getMessage() for record in caplog.records if "login failure" in record.getMessage()]
    assert failures, "no failed sign-in was logged"
    assert all("alice" in message and "203.0.113.7" in message for message in failures)
    assert any("Locking out" in record.getMessage() for record in caplog.records)
    assert WRONG not in caplog.text
    assert all(WRONG not in attempt.post_data for attempt in AccessAttempt.objects.all())


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("198.51.100.9", "198.51.100.9"),
        ("10.0.0.1, 198.51.100.9", "198.51.100.9"),
        ("", "127.0.0.1"),
        ("198.51.100.9, not-an-address", "127.0.0.1"),  # a proxy that adds nothing usable: its own address
    ],
)
def test_behind_a_proxy_the_address_is_the_one_the_proxy_added(client, admin_user, settings, forwarded, expected):
    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1")]  # the test client's address
    client.post(DOORS["site"], {"username": "alice", "password": WRONG}, HTTP_X_FORWARDED_FOR=forwarded)
    assert AccessAttempt.objects.get().ip_address == expected


def test_forwarded_addresses_from_a_peer_that_is_not_a_trusted_proxy_are_ignored(client, admin_user, settings):
    """A client reaching the web port directly writes a fresh X-Forwarded-For for every guess: it is still one
    address, locked out after the allowed failures."""
    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.5.2")]
    answers = [
        client.post(DOORS["site"], {"username": "alice", "password": WRONG},
                    REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}").status_code
        for attempt in range(1, settings.LOGIN_FAILURES_ALLOWED + 2)
    ]  # fmt: skip
    assert answers == [200] * settings.LOGIN_FAILURES_ALLOWED + [429]
    locked = client.post(DOORS["site"], {"username": "alice", "password": "password"},
                         REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.99")  # fmt: skip
    assert locked.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}


def test_a_trusted_proxy_passes_on_each_client_address(client, admin_user, settings):
    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.5.0/24")]
    for _ in range(settings.LOGIN_FAILURES_ALLOWED + 1):
        client.post(DOORS["site"], {"username": "alice", "password": WRONG},
                    REMOTE_ADDR="10.0.5.2", HTTP_X_FORWARDED_FOR="198.51.100.9")  # fmt: skip
    # The guesser at 198.51.100.9 is locked out; alice at her desk, behind the same proxy, is not.
    elsewhere = client.post(DOORS["site"], {"username": "alice", "password": "password"},
                            REMOTE_ADDR="10.0.5.2", HTTP_X_FORWARDED_FOR="192.0.2.40")  # fmt: skip
    assert elsewhere.status_code == 302


def test_a_request_without_an_address_is_still_signed_in(client, admin_user):
    """force_login (and any request with no REMOTE_ADDR) records the sign-in with no address, not a made-up one."""
    client.force_login(admin_user)
    assert AccessLog.objects.get().ip_address is None
    assert client.get("/").status_code == 200


def change_password(client, old_password: str, address: str = "203.0.113.7"):
    new = "a-much-longer-passphrase-7c1d"
    form = {"old_password": old_password, "new_password1": new, "new_password2": new}
    return client.post("/accounts/password/", form, REMOTE_ADDR=address)


def test_wrong_old_passwords_on_the_password_change_form_count_like_sign_ins(client, staff_granted):
    """A signed-in session (perhaps someone else's, left open) cannot guess the password through the form."""
    client.force_login(staff_granted)
    for attempt in range(1, settings.LOGIN_FAILURES_ALLOWED + 1):
        response = change_password(client, WRONG)
        assert response.status_code == 200, f"wrong old password #{attempt} was not answered with the form"
        assert "Your old password was entered incorrectly" in response.content.decode()
    locked = change_password(client, WRONG)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many wrong passwords for “bob” from this computer." in page
    assert 'href="/preferences/">Back to Preferences</a>' in page
    assert change_password(client, "password").status_code == 429, "even the right old password waits"
    staff_granted.refresh_from_db()
    assert staff_granted.check_password("password")


def test_the_admins_password_change_is_the_sites_lockout_counted_one(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/password_change/", {"old_password": WRONG})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/"
    assert admin_user.check_password("password")


def test_the_password_change_form_and_the_sign_in_share_one_lockout(client, staff_granted):
    client.force_login(staff_granted)
    for _ in range(3):
        change_password(client, WRONG)
    signing_in = Client()
    fail(signing_in, "site", settings.LOGIN_FAILURES_ALLOWED - 3, username="bob")
    assert sign_in(signing_in, "site", WRONG, username="bob").status_code == 429
    assert sign_in(signing_in, "site", "password", username="bob").status_code == 429
    end_the_cool_off()
    assert change_password(client, "password").status_code == 302
