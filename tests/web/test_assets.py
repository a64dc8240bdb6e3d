"""What the pages load: htmx 2 and our own stylesheet and script, all from our static files, none from a CDN."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_pages_load_only_our_own_static_files(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources, "the page loads scripts and styles"
    assert all(source.startswith("/static/") for source in sources), sources
    assert "/static/django_htmx/htmx-2.min.js" in sources
    assert "/static/css/app.css" in sources and "/static/js/app.js" in sources
    assert not re.search(r"https?://(cdn|unpkg|cdnjs|jsdelivr)", html)


def test_the_vendored_htmx_is_version_2():
    # htmx 4 changes polling, CSRF inheritance and error swaps; this page is written for htmx 2.
    path = finders.find("django_htmx/htmx-2.min.js")
    assert path is not None
    with open(path, encoding="utf-8") as handle:
        assert re.search(r'version:"2\.0\.\d+"', handle.read())


def test_the_csrf_token_is_given_to_htmx_once_on_body(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"[A-Za-z0-9]+\"\}'>", html)
    assert html.count("X-CSRFToken") == 1
