"""The front door's headers on every page of the URLconf: a strict Content-Security-Policy, a Permissions-Policy,
no caching of a signed-in person's pages; and pages that need no inline script or style to work under them."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from tests.support.factories import make_file
from tests.support.urls import URLS, path_for
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


def every_answer(client, headers: dict[str, str] | None = None):
    """(URL, response) for every URL of the URLconf, with example path arguments."""
    for url_name, arguments in URLS:
        url = path_for(url_name, arguments, {})
        yield url, client.get(url, **(headers or {}))


@pytest.fixture
def site(admin_user, staff_granted, identity, other_identity) -> list[User]:
    for status in FileStatus:
        make_file(identity, status)
    return [admin_user, staff_granted]


def directives(header: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.parametrize("who", ["anonymous", "superuser", "staff"])
def test_every_answer_carries_a_strict_content_security_policy(client, site, who):
    if who != "anonymous":
        client.force_login(site[0] if who == "superuser" else site[1])
    for url, response in every_answer(client):
        policy = response.get("Content-Security-Policy")
        assert policy, f"{url} ({response.status_code}) has no Content-Security-Policy"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, f"{url}: {policy}"
        parsed = directives(policy)
        assert parsed["default-src"] == ["'self'"]
        assert parsed["object-src"] == ["'none'"]
        assert parsed["frame-ancestors"] == ["'none'"]
        # Nothing loosens scripts or styles beyond default-src.
        assert not {"script-src", "style-src", "script-src-elem", "style-src-attr"} & parsed.keys()


def test_the_lockout_page_and_an_htmx_fragment_carry_it_too(client, site):
    client.force_login(site[1])
    assert "default-src 'self'" in client.get("/files/poll/?since=-1", **HTMX)["Content-Security-Policy"]
    client.logout()
    for _ in range(6):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_every_answer_turns_off_the_browser_features_the_site_does_not_use(client, site):
    client.force_login(site[0])
    for url, response in every_answer(client):
        policy = response.get("Permissions-Policy", "")
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert f"{feature}=()" in policy, f"{url}: {policy!r}"


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_no_signed_in_page_or_fragment_is_stored(client, site, headers):
    for user in site:
        client.force_login(user)
        for url, response in every_answer(client, headers):
            cache_control = response.get("Cache-Control", "")
            assert "no-store" in cache_control and "private" in cache_control, f"{url}: {cache_control!r}"


def test_a_signed_in_poll_with_nothing_new_is_not_stored_either(client, site):
    client.force_login(site[1])
    page = client.get("/").content.decode()
    poll = re.search(r'<div id="poller"[^>]*hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    response = client.get(poll, **HTMX)
    assert response.status_code == 204
    assert "no-store" in response["Cache-Control"]


# What a strict CSP refuses to run. Pages must work without any of it (the browser tests prove they do).
# A <script> without src runs inline, unless it is a data block (type="application/json"), which is never executed.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\btype=[\"']application/json[\"'])[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=[\"']", re.I)
INLINE_HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*)=[\"']", re.I)
JS_TRIGGER_FILTER = re.compile(r"hx-trigger=\"[^\"]*\[[^\"]*\]")


@pytest.mark.slow
def test_no_page_has_inline_script_style_or_handlers(client, site):
    for user in site:
        client.force_login(user)
        for headers in ({}, HTMX):
            for url, response in every_answer(client, headers):
                if "html" not in response.get("Content-Type", ""):
                    continue
                html = response.content.decode()
                for name, pattern in [
                    ("an inline <script>", INLINE_SCRIPT),
                    ("an inline style", INLINE_STYLE),
                    ("an inline event handler", INLINE_HANDLER),
                    ("an htmx trigger filter (needs eval)", JS_TRIGGER_FILTER),
                ]:
                    found = pattern.search(html)
                    assert not found, f"{url} has {name}: {found.group(0) if found else ''}"


def test_htmx_is_told_to_evaluate_nothing_and_inject_no_styles(client, site):
    client.force_login(site[1])
    html = client.get("/").content.decode()
    assert """<meta name="htmx-config" content='{"allowEval": false, "includeIndicatorStyles": false}'>""" in html


def test_the_live_parts_poll_on_events_that_app_js_raises(client, site):
    client.force_login(site[1])
    poller = re.search(r'<div id="poller".*?></div>', client.get("/").content.decode(), re.S).group(0)
    assert 'hx-trigger="poll, files-changed from:body"' in poller and 'data-poll-every="3"' in poller
    table = re.search(r'<div id="identity-table"[^>]*>', client.get("/identities/").content.decode()).group(0)
    assert 'hx-trigger="poll, identities-changed from:body"' in table and "data-poll-every=" in table
