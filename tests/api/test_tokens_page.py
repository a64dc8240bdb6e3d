"""The API tokens page: a person makes a token (shown once), sees when each was last used, and revokes it."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import ApiClient
from webadmit_dash.api.models import ApiToken

pytestmark = pytest.mark.django_db


def new_token(html: str) -> str:
    return re.search(r'value="(wdash_[A-Za-z0-9_-]+)"', html).group(1)


def test_the_page_needs_sign_in(client):
    response = client.get("/api/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_new_token_is_shown_once_and_works(client, staff_granted, identity):
    client.force_login(staff_granted)
    created = client.post("/api/tokens/", {"name": "SIS reconciliation"})
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    secret = new_token(created.content.decode())
    assert ApiClient(secret).get("/api/v1/identities").json()["items"][0]["id"] == identity.pk
    listed = client.get("/api/tokens/").content.decode()
    assert "SIS reconciliation" in listed
    assert secret not in listed, "the token is shown only on the answer that made it"
    assert ApiToken.objects.get().prefix in listed
    assert "ago" in listed  # last used, just now


def test_a_token_needs_a_name(client, staff_granted):
    client.force_login(staff_granted)
    response = client.post("/api/tokens/", {"name": "   "})
    assert response.status_code == 400
    assert "Give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("name", ["cron\x00job", "two\nlines"])
def test_a_token_name_with_a_control_character_is_refused_with_a_message(client, staff_granted, name):
    client.force_login(staff_granted)
    response = client.post("/api/tokens/", {"name": name})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Keep the name to one line of ordinary characters" in page
    assert 'value="cron job"' in page or 'value="two lines"' in page, "the name is given back to correct"
    assert not ApiToken.objects.exists()


def test_revoking_a_token_stops_it_at_once(client, staff_granted):
    client.force_login(staff_granted)
    secret = new_token(client.post("/api/tokens/", {"name": "cron"}).content.decode())
    token = ApiToken.objects.get()
    response = client.post(f"/api/tokens/{token.pk}/revoke/", follow=True)
    assert "Token revoked" in response.content.decode()
    assert ApiClient(secret).get("/api/v1/files").status_code == 401
    assert "Revoked" in client.get("/api/tokens/").content.decode()


def test_nobody_can_see_or_revoke_another_users_token(client, staff_granted, staff_none):
    client.force_login(staff_granted)
    secret = new_token(client.post("/api/tokens/", {"name": "bob's script"}).content.decode())
    token = ApiToken.objects.get()
    client.force_login(staff_none)
    assert "bob&#x27;s script" not in client.get("/api/tokens/").content.decode()
    response = client.post(f"/api/tokens/{token.pk}/revoke/", follow=True)
    assert "not yours" in response.content.decode()
    assert ApiClient(secret).get("/api/v1/files").status_code == 200


@pytest.mark.parametrize("pk", [0, 2**63, 2**70])
def test_revoking_a_nonsense_id_says_so_without_failing(client, staff_granted, pk):
    client.force_login(staff_granted)
    assert "not yours" in client.post(f"/api/tokens/{pk}/revoke/", follow=True).content.decode()
