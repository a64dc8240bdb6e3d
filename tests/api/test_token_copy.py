"""The new token's Copy button: shown by a static script (the CSP allows no inline one), pointing at the token's field,
with a place to say it copied; without JavaScript there is no button, only the field to select."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_the_new_token_comes_with_a_copy_button_run_by_a_static_script(client, staff_granted):
    client.force_login(staff_granted)
    page = client.post("/api/tokens/", {"name": "SIS reconciliation"}).content.decode()

    field = re.search(r'<input[^>]*class="token-new__value"[^>]*>', page).group(0)
    assert 'id="new-token"' in field and "readonly" in field
    button = re.search(r"<button[^>]*data-copy-from[^>]*>.*?</button>", page, re.S).group(0)
    assert 'data-copy-from="new-token"' in button and 'data-copy-status="new-token-copied"' in button
    assert " hidden" in button  # until copy.js runs
    assert re.search(r'id="new-token-copied"[^>]*aria-live="polite"', page)
    assert re.search(r'<script src="/static/js/copy\.js" defer></script>', page)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # no inline script


def test_the_list_of_tokens_alone_has_no_copy_button(client, staff_granted):
    client.force_login(staff_granted)
    assert "data-copy-from" not in client.get("/api/tokens/").content.decode()
