"""Campus sign-in with OpenID Connect, against a small provider this test starts (tests/support/oidc_provider.py):
the browser's trip to the provider and back, the token exchange, the ID token's signature, nonce and audience,
and the person's groups."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import Group, User
from django.test import Client

from tests.support.factories import make_file
from tests.support.oidc_provider import OIDCProvider, configure_sign_in_with
from webadmit_dash.core.models import IdentityGrant
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings) -> Iterator[OIDCProvider]:
    with OIDCProvider("webadmit-dash", "provider-secret-for-tests") as op:
        configure_sign_in_with(op, settings)
        yield op


def sign_in(client: Client, next_page: str = "/") -> object:
    """The browser's round trip: our sign-in → the provider (which approves) → our callback."""
    start = client.get("/oidc/authenticate/", {"next": next_page})
    assert start.status_code == 302
    authorize = urlsplit(start["Location"])
    query = parse_qs(authorize.query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0]
    back = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    return client.get(callback.path, parse_qs(callback.query))


def test_the_sign_in_page_offers_the_campus_account(provider):
    html = Client().get("/accounts/login/").content.decode()
    assert 'href="/oidc/authenticate/' in html and "Sign in with your campus account" in html


def test_a_new_person_is_created_with_their_groups_and_sees_their_grants(provider, identity, other_identity):
    pharmacy = Group.objects.create(name="pharmacy-admissions")
    IdentityGrant.objects.create(identity=other_identity, group=pharmacy)
    theirs = make_file(other_identity, FileStatus.AVAILABLE)
    make_file(identity, FileStatus.AVAILABLE)
    provider.sign_in_as(sub="u-123", preferred_username="hana", email="hana@campus.edu", given_name="Hana",
                        groups=["pharmacy-admissions", "everyone"])  # fmt: skip
    client = Client()
    done = sign_in(client)
    assert done.status_code == 302 and done["Location"] == "/"
    hana = User.objects.get(username="hana")
    assert (hana.email, hana.first_name) == ("hana@campus.edu", "Hana")
    assert [group.name for group in hana.groups.all()] == ["pharmacy-admissions"]
    page = client.get("/")
    assert {row.webadmit_id for row in page.context["files"]} == {theirs.webadmit_id}
    # The code went to the provider with our secret and the PKCE verifier; the tokens were never put in the session.
    assert provider.token_requests[-1]["code_verifier"]
    assert "oidc_access_token" not in client.session


def test_an_existing_user_is_matched_by_user_name_and_their_groups_follow_the_provider(provider, staff_via_group):
    staff_via_group.set_unusable_password()  # an account campus sign-in made: no password of this site
    staff_via_group.save()
    provider.sign_in_as(sub="u-9", preferred_username="carol", email="carol@campus.edu", groups=[])
    client = Client()
    sign_in(client)
    assert client.get("/").context["user"] == staff_via_group
    assert not staff_via_group.groups.exists(), "no longer in the campus group, no longer in ours"


def test_a_person_without_a_user_name_claim_is_refused(provider):
    provider.sign_in_as(sub="u-1", email="nobody@campus.edu")
    done = sign_in(Client())
    assert done.status_code == 302 and done["Location"].startswith("/accounts/login/")
    assert not User.objects.exists()


def refused_with(client: Client, response, words: str) -> None:
    """The callback sent the person back to the sign-in page, which says why."""
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert words in page.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_id_token_for_another_application_is_refused(provider, caplog):
    provider.sign_in_as(sub="u-2", preferred_username="ivan")
    provider.audience = "another-campus-app"  # a token the provider issued to someone else
    client = Client()
    refused_with(client, sign_in(client), "did not pass this site&#x27;s checks")
    assert not User.objects.filter(username="ivan").exists()
    assert "issued for another application" in caplog.text


@pytest.mark.parametrize("offset", [-5, 1, 30])
def test_a_provider_whose_clock_is_a_little_off_still_signs_people_in(provider, offset):
    provider.sign_in_as(sub="u-3", preferred_username="jun")
    provider.clock_offset = offset
    client = Client()
    done = sign_in(client)
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.session["_auth_user_id"] == str(User.objects.get(username="jun").pk)


@pytest.mark.parametrize(
    ("change", "logged"),
    [
        ({"clock_offset": -400}, "ExpiredSignatureError"),  # expired a minute and more ago
        ({"clock_offset": 120}, "ImmatureSignatureError"),  # issued two minutes in our future
        ({"algorithm": "none"}, "the ID token was refused"),  # unsigned
    ],
)
def test_an_id_token_that_fails_a_check_ends_on_the_sign_in_page_with_a_message(provider, caplog, change, logged):
    provider.sign_in_as(sub="u-4", preferred_username="kim")
    for name, value in change.items():
        setattr(provider, name, value)
    client = Client()
    with caplog.at_level(logging.WARNING):
        refused_with(client, sign_in(client), "Your campus sign-in could not be completed")
    assert logged in caplog.text
    assert not User.objects.filter(username="kim").exists()
    assert provider.client_secret not in caplog.text


def test_a_campus_account_named_like_the_local_superuser_is_refused_and_changes_nothing(provider, admin_user):
    provider.sign_in_as(sub="u-666", preferred_username="alice", email="mallory@elsewhere.example", given_name="M")
    client = Client()
    refused_with(client, sign_in(client), "“alice” is an account of this site with its own password")
    admin_user.refresh_from_db()
    assert (admin_user.email, admin_user.first_name, admin_user.last_login) == ("alice@example.edu", "", None)


def test_a_campus_account_named_like_a_local_one_with_a_password_is_refused_unless_allowed(
    provider, staff_via_group, settings
):
    provider.sign_in_as(sub="u-9", preferred_username="carol", email="carol@campus.edu", groups=[])
    client = Client()
    refused_with(client, sign_in(client), "“carol” is an account of this site")
    assert staff_via_group.groups.exists(), "a refused sign-in changes nothing"
    settings.CAMPUS_SIGN_IN_MATCHES_LOCAL_ACCOUNTS = True
    assert sign_in(client)["Location"] == "/"
    assert client.session["_auth_user_id"] == str(staff_via_group.pk)


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"preferred_username": "h" * 151}, "longer than this site accepts (150 characters)"),
        ({"preferred_username": "nul\x00name"}, "characters this site cannot use"),
        ({"preferred_username": "lena", "email": "l" * 250 + "@campus.edu"}, "not one this site can keep"),
    ],
)
def test_a_user_name_or_e_mail_that_does_not_fit_is_refused_with_a_message(provider, caplog, claims, words):
    provider.sign_in_as(sub="u-5", **claims)
    client = Client()
    with caplog.at_level(logging.WARNING):
        refused_with(client, sign_in(client), words)
    assert not User.objects.exists()
    assert "Refused a campus sign-in by OpenID Connect" in caplog.text


def test_names_from_the_provider_are_stored_cleaned(provider):
    provider.sign_in_as(sub="u-6", preferred_username="mo", given_name="Mo\x00na", family_name="L" * 400)
    assert sign_in(Client())["Location"] == "/"
    mo = User.objects.get(username="mo")
    assert mo.first_name == "Mona" and len(mo.last_name) == 150 and mo.last_name.endswith("…")


def test_a_provider_that_refuses_the_code_ends_on_the_sign_in_page_with_a_message(provider, caplog):
    provider.sign_in_as(sub="u-7", preferred_username="noor")
    provider.client_secret = "rotated-at-the-provider"  # ours no longer matches: the token endpoint answers 400
    client = Client()
    with caplog.at_level(logging.WARNING):
        refused_with(client, sign_in(client), "the identity provider did not answer as expected")
    assert "HTTPError" in caplog.text
    assert "provider-secret-for-tests" not in caplog.text
