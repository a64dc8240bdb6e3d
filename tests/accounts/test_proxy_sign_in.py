"""Campus sign-in through a trusted reverse proxy (Shibboleth, mod_auth_mellon, oauth2-proxy): the proxy sends who
the person is and their groups in headers; only the proxy's own addresses are believed."""

from __future__ import annotations

import http.client
import ipaddress
import logging

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from tests.support.factories import make_file
from tests.support.webserver import GunicornServer
from webadmit_dash.core.models import IdentityGrant
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

PROXY = "10.0.5.2"
STRANGER = "198.51.100.7"


@pytest.fixture
def proxy_sign_in(settings) -> None:
    """What REMOTE_USER_HEADER=X-Remote-User, REMOTE_GROUPS_HEADER=X-Remote-Groups, REMOTE_USER_PROXIES=10.0.5.0/24
    configure (settings.py)."""
    settings.REMOTE_USER_HEADER = "HTTP_X_REMOTE_USER"
    settings.REMOTE_GROUPS_HEADER = "HTTP_X_REMOTE_GROUPS"
    settings.REMOTE_GROUPS_SEPARATOR = ";"
    settings.REMOTE_USER_PROXIES = [ipaddress.ip_network("10.0.5.0/24")]
    settings.AUTHENTICATION_BACKENDS = [
        "webadmit_dash.accounts.proxy.TrustedProxyBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "webadmit_dash.accounts.proxy.TrustedProxyMiddleware",
    )
    settings.MIDDLEWARE = middleware


def via(address: str, user: str, groups: str = "") -> dict[str, str]:
    headers = {"REMOTE_ADDR": address, "HTTP_X_REMOTE_USER": user}
    if groups:
        headers["HTTP_X_REMOTE_GROUPS"] = groups
    return headers


def listed_ids(response) -> set[int]:
    return {row.webadmit_id for row in response.context["files"]}


def test_a_new_person_from_the_proxy_is_created_with_their_groups_and_sees_their_grants(
    proxy_sign_in, identity, other_identity, staff_via_group
):
    # staff_via_group made "Pharmacy admissions", granted other_identity; the campus directory knows it by that name.
    theirs = make_file(other_identity, FileStatus.AVAILABLE)
    make_file(identity, FileStatus.AVAILABLE)
    client = Client()
    response = client.get("/", **via(PROXY, "erin@campus.edu", "Pharmacy admissions;all-staff;library"))
    assert response.status_code == 200
    erin = User.objects.get(username="erin@campus.edu")
    assert [group.name for group in erin.groups.all()] == ["Pharmacy admissions"]
    assert not Group.objects.filter(name__in=["all-staff", "library"]).exists(), "unknown campus groups are ignored"
    assert not erin.has_usable_password() and not erin.is_staff
    assert listed_ids(response) == {theirs.webadmit_id}


def test_the_same_header_from_another_address_is_ignored(proxy_sign_in, identity):
    make_file(identity, FileStatus.AVAILABLE)
    response = Client().get("/", **via(STRANGER, "alice", "admins"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not User.objects.filter(username="alice").exists()


def test_a_forged_header_cannot_become_an_existing_user(proxy_sign_in, admin_user):
    response = Client().get("/", **via(STRANGER, admin_user.username))
    assert response.status_code == 302
    assert Client().get("/api/tokens/", **via(STRANGER, admin_user.username)).status_code == 302


def test_group_membership_follows_the_directory_at_each_sign_in(proxy_sign_in, other_identity):
    ops = Group.objects.create(name="admissions-ops")
    pharmacy = Group.objects.create(name="pharmacy")
    IdentityGrant.objects.create(identity=other_identity, group=pharmacy)
    client = Client()
    client.get("/", **via(PROXY, "frank", "admissions-ops;pharmacy"))
    frank = User.objects.get(username="frank")
    assert set(frank.groups.all()) == {ops, pharmacy}
    client.post("/accounts/logout/", **via(PROXY, "frank"))
    Client().get("/", **via(PROXY, "frank", "admissions-ops"))
    assert set(frank.groups.all()) == {ops}


def test_the_proxy_session_ends_when_the_header_stops(proxy_sign_in):
    client = Client()
    assert client.get("/", **via(PROXY, "gina")).status_code == 200
    assert client.get("/", REMOTE_ADDR=PROXY).status_code == 302


def test_local_passwords_still_work_for_the_admin(proxy_sign_in, admin_user):
    client = Client()
    response = client.post("/accounts/login/", {"username": "alice", "password": "password"}, REMOTE_ADDR=STRANGER)
    assert response.status_code == 302
    assert client.get("/", REMOTE_ADDR=STRANGER).status_code == 200


def test_local_passwords_can_be_turned_off(proxy_sign_in, admin_user, settings):
    settings.AUTHENTICATION_BACKENDS = ["webadmit_dash.accounts.proxy.TrustedProxyBackend"]
    settings.LOCAL_PASSWORDS = False
    client = Client()
    page = client.get("/accounts/login/")
    assert 'name="password"' not in page.content.decode()
    client.post("/accounts/login/", {"username": "alice", "password": "password"})
    assert client.get("/").status_code == 302


def as_wsgi_gives_it(text: str) -> str:
    """A header's UTF-8 bytes as a WSGI server hands them to Django (PEP 3333: decoded as latin-1)."""
    return text.encode("utf-8").decode("latin-1")


def refusal_shown(client: Client, headers: dict[str, str], words: str) -> None:
    response = client.get("/", **headers)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    page = client.get(response["Location"], **headers)
    assert words in page.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_utf8_user_name_and_groups_from_the_proxy_are_read_as_written(proxy_sign_in):
    generale = Group.objects.create(name="Pharmacie générale")
    client = Client()
    headers = via(PROXY, as_wsgi_gives_it("josé.müller"), as_wsgi_gives_it("Pharmacie générale;études"))
    assert client.get("/", **headers).status_code == 200
    jose = User.objects.get()
    assert jose.username == "josé.müller"
    assert list(jose.groups.all()) == [generale]
    assert client.get("/", **headers).status_code == 200, "the next request matches the same, signed-in user"


def test_a_proxy_user_named_like_the_local_superuser_is_refused_and_changes_nothing(proxy_sign_in, admin_user, caplog):
    with caplog.at_level(logging.WARNING):
        refusal_shown(Client(), via(PROXY, "alice", "Pharmacy admissions"),
                      "“alice” is an account of this site with its own password")  # fmt: skip
    assert "Refused a campus sign-in by the proxy's HTTP_X_REMOTE_USER" in caplog.text
    admin_user.refresh_from_db()
    assert admin_user.last_login is None and not admin_user.groups.exists()


def test_a_proxy_user_named_like_a_local_account_is_signed_in_when_the_setting_allows(
    proxy_sign_in, staff_granted, settings
):
    refusal_shown(Client(), via(PROXY, "bob"), "“bob” is an account of this site")
    settings.CAMPUS_SIGN_IN_MATCHES_LOCAL_ACCOUNTS = True
    assert Client().get("/", **via(PROXY, "bob")).context["user"] == staff_granted


@pytest.mark.parametrize(
    ("name", "words"),
    [("x" * 151, "longer than this site accepts (150 characters)"), ("nul\x00name", "characters this site cannot use")],
)
def test_a_proxy_user_name_that_does_not_fit_is_refused_with_a_message(proxy_sign_in, name, words, caplog):
    with caplog.at_level(logging.WARNING):
        refusal_shown(Client(), via(PROXY, name), words)
    assert not User.objects.exists()
    assert "Refused a campus sign-in" in caplog.text


def test_a_utf8_user_name_through_the_production_web_server_is_stored_as_written(transactional_db):
    """gunicorn, as the Dockerfile runs it, hands the header's UTF-8 bytes to Django decoded as latin-1 (PEP 3333)."""
    env = {"REMOTE_USER_HEADER": "X-Remote-User", "REMOTE_USER_PROXIES": "127.0.0.1"}
    with GunicornServer(workers=1, env=env) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.putrequest("GET", "/preferences/")
        connection.putheader("X-Remote-User", "josé.müller".encode())
        connection.endheaders()
        assert connection.getresponse().status == 200, server.log()[-3000:]
        connection.close()
    assert list(User.objects.values_list("username", flat=True)) == ["josé.müller"]
