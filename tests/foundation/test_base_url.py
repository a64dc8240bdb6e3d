"""Which WebAdMIT addresses a credential may point at: a clear form error for everything else."""

from __future__ import annotations

import pytest

from webadmit_dash.web.admin import CredentialForm


def form_errors(base_url: str) -> list[str]:
    form = CredentialForm(
        data={"name": "Nursing", "base_url": base_url, "api_key": "a" * 32, "rate_limit_per_hour": 5000}
    )
    form.is_valid()
    return form.errors.get("base_url", [])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.webadmit.org",
        "https://prelaunch.webadmit.org",
        "https://woodbury.webadmit.org/",
        "https://webadmit.org",
    ],
)
def test_webadmit_hosts_over_https_are_accepted(base_url):
    assert form_errors(base_url) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://api.webadmit.org", "must be reached over https://"),
        ("https://api.webadmit.org.evil.example", "is not a WebAdMIT host this installation allows"),
        ("https://notwebadmit.org", "is not a WebAdMIT host this installation allows"),
        ("ftp://api.webadmit.org", "Enter a full URL"),
        ("api.webadmit.org", "Enter a full URL"),
        ("https://api.webadmit.org/api/v1", "with no path or query"),
        ("https://user:pw@api.webadmit.org", "with no path or query"),
        ("https://api.webadmit.org:99999", "not a valid URL"),
    ],
)
def test_other_addresses_get_a_clear_form_error(base_url, message):
    errors = form_errors(base_url)
    assert errors and message in errors[0]


@pytest.mark.django_db
def test_loopback_needs_the_operator_to_allow_it(settings):
    settings.WEBADMIT_ALLOW_LOOPBACK = False
    assert "only allowed for local testing" in form_errors("http://127.0.0.1:8025")[0]
    settings.WEBADMIT_ALLOW_LOOPBACK = True
    assert form_errors("http://127.0.0.1:8025") == []
    assert form_errors("http://localhost:8025") == []


@pytest.mark.django_db
def test_organisation_domains_follow_the_allowed_hosts_setting(settings):
    settings.WEBADMIT_ALLOWED_HOSTS = ["webadmit.org", "liaison-intl.com"]
    assert form_errors("https://api.liaison-intl.com") == []
