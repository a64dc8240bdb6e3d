"""Campus sign-in with OpenID Connect, against a small provider this test starts (tests/support/oidc_provider.py):
the browser's trip to the provider and back, the token exchange, the ID token's signature, nonce and audience,
and the person's groups."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import Group, User
from django.test import Client

from tests.support.oidc_provider import OIDCProvider
from tests.web.conftest import make_file
from webadmit_dash.core.models import IdentityGrant
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings) -> Iterator[OIDCProvider]:
    with OIDCProvider("webadmit-dash", "provider-secret-for-tests") as op:
        for name, value in op.settings().items():
            setattr(settings, name, value)
        settings.OIDC_ENABLED = True
        settings.OIDC_RP_SIGN_ALGO = "RS256"
        settings.OIDC_RP_SCOPES = "openid email profile"
        settings.OIDC_USERNAME_CLAIM = "preferred_username"
        settings.OIDC_GROUPS_CLAIM = "groups"
        settings.OIDC_USE_PKCE = True
        settings.OIDC_TIMEOUT = 5
        settings.LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/"
        settings.AUTHENTICATION_BACKENDS = [
            "webadmit_dash.accounts.oidc.CampusOIDCBackend",
            "django.contrib.auth.backends.ModelBackend",
        ]
        settings.ROOT_URLCONF = "tests.accounts.oidc_urls"
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


def test_an_id_token_for_another_application_is_refused(provider):
    provider.sign_in_as(sub="u-2", preferred_username="ivan")
    provider.audience = "another-campus-app"  # a token the provider issued to someone else
    response = sign_in(Client())
    assert response.status_code == 400
    assert not User.objects.filter(username="ivan").exists()
