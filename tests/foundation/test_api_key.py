"""The API key field accepts only what WebAdMIT issues (printable ASCII, 16 to 128 characters), with a clear error
that never repeats the key."""

from __future__ import annotations

import pytest
from django.urls import reverse

from webadmit_dash.core.models import Credential
from webadmit_dash.web.admin import CredentialForm


def key_errors(api_key: str) -> list[str]:
    form = CredentialForm(
        data={"name": "Nursing", "base_url": "https://api.webadmit.org", "api_key": api_key, "rate_limit_per_hour": 5}
    )
    form.is_valid()
    return form.errors.get("api_key", [])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "api_key",
    [
        "5f2b8c0d9e1a4b7c8d2e3f4a5b6c7d8e",  # the documented shape: 32 hexadecimal digits
        "5F2B8C0D9E1A4B7C",  # 16, the shortest accepted
        "k" * 128,  # the longest accepted
        "Ab3-_.~+/=!#$%&*?@[]^{|}",  # keyboard punctuation
        "  5f2b8c0d9e1a4b7c8d2e3f4a5b6c7d8e \n",  # pasted with blanks around it: trimmed
    ],
)
def test_keys_webadmit_could_issue_are_accepted(api_key):
    assert key_errors(api_key) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("api_key", "error"),
    [
        ("a" * 5000, "this one has 5000"),
        ("5f2b8c0d9e1a4b7", "this one has 15"),
        ("<script>", "this one has 8"),
        ("<script>alert(1)</script>é" + "a" * 8, "printable ASCII"),
        ("5f2b8c0d9e1a4b7c 8d2e3f4a5b6c7d8e", "no spaces"),
        ("5f2b8c0d9e1a4b7c\t8d2e3f4a5b6c7d8e", "no spaces"),
        ("\uff15f2b8c0d9e1a4b7c8d2e3f4a5b6c7d8e", "printable ASCII"),  # a full-width digit five
    ],
)
def test_anything_else_gets_a_clear_error_without_the_key(api_key, error):
    errors = key_errors(api_key)
    assert len(errors) == 1 and error in errors[0]
    assert "Copy it again from WebAdMIT." in errors[0]
    assert api_key.strip() not in errors[0]


@pytest.mark.django_db
def test_the_admin_refuses_a_bad_key_and_saves_nothing(client, admin_user):
    client.force_login(admin_user)
    bad_key = "not a key: " + "x" * 40
    response = client.post(
        reverse("admin:dashboard_credential_add"),
        {"name": "Nursing", "base_url": "https://api.webadmit.org", "api_key": bad_key, "rate_limit_per_hour": 5000},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "A WebAdMIT API key has only letters, digits and keyboard punctuation" in html
    assert bad_key not in html
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_a_key_with_a_nul_is_refused_by_django_itself():
    assert key_errors("5f2b8c0d9e1a4b7c\x008d2e3f4a5b6c7d8e") == ["Null characters are not allowed."]
