"""Run again buttons say which file they start again, for screen readers: on the list, on the file page, in the
dialog that asks first, and on the confirmation page without JavaScript ("Run again: Interview Roster (PTCAS ·
2026 - 2027)"), since the same export name can stand under several identities."""

from __future__ import annotations

import html
import re

import pytest

from tests.support.factories import make_export, make_file
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

NAME = "Interview Roster \u2013 Café <Session>"


def accessible_text(page: str, opening: str) -> str:
    """The name a screen reader reads for the button whose opening tag matches `opening`: its aria-label, else its
    text (aria-hidden icons carry none; a visually hidden part is read after a space)."""
    match = re.search(opening + r"[^>]*>(.*?)</button>", page, re.S)
    assert match, opening
    label = re.search(r'aria-label="([^"]*)"', match.group(0).split(">", 1)[0])
    if label:
        return html.unescape(label.group(1))
    inner = re.sub(r"<svg.*?</svg>", "", match.group(1), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inner)).split())


@pytest.fixture
def failed(identity):
    return make_file(identity, FileStatus.FAILED, export=make_export(identity, 41, NAME))


def test_the_lists_run_again_button_names_the_file_and_its_identity(client, admin_user, identity, failed):
    client.force_login(admin_user)
    page = client.get("/").content.decode()

    expected = f"Run again: {NAME} ({identity.display_name})"
    assert accessible_text(page, f'<button[^>]*id="rerun-{failed.pk}"') == expected
    # The dialog is told the same name (app.js puts it into the question and the confirm button's hidden text).
    form = re.search(rf'<form method="get" action="/files/{failed.pk}/run-again/"[^>]*>', page).group(0)
    assert html.unescape(re.search(r'data-name="([^"]*)"', form).group(1)) == f"{NAME} ({identity.display_name})"
    assert "<Session>" not in page  # escaped everywhere


def test_the_dialogs_confirm_button_carries_the_name_slot(client, admin_user, failed):
    client.force_login(admin_user)
    page = client.get("/").content.decode()

    button = re.search(r'<button[^>]*id="run-again-confirm".*?</button>', page, re.S).group(0)
    assert "data-run-again-name" in button


def test_the_file_pages_run_again_button_names_it_too(client, admin_user, identity, failed):
    client.force_login(admin_user)
    page = client.get(f"/files/{failed.pk}/").content.decode()

    assert accessible_text(page, f'<button[^>]*id="rerun-{failed.pk}"') == (
        f"Run again: {NAME} ({identity.display_name})"
    )


def test_the_confirmation_pages_button_names_the_file(client, admin_user, identity, failed):
    client.force_login(admin_user)
    page = client.get(f"/files/{failed.pk}/run-again/").content.decode()

    assert accessible_text(page, '<button[^>]*id="run-again-confirm"') == (
        f"Start a new run of {NAME} ({identity.display_name})"
    )
