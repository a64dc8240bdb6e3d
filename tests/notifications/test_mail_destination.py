"""Without a mail server, mail is written to files: the Notifications page says where it went instead of "Sent"
(issue 19, point 13)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tests.support.factories import grant, subscribe
from webadmit_dash.notifications import delivery, fanout


@pytest.fixture
def staff(upstream) -> User:
    user = User.objects.create_user("erin", "erin@example.edu", "password")
    grant(user, upstream.identities[0])
    return user


def mail_a_finished_run(upstream, staff: User) -> None:
    subscribe(staff)
    run = upstream.new_run(upstream.identities[0])
    upstream.finish(run, "Available")
    fanout.fan_out()
    delivery.deliver_due()


def state_cells(html: str) -> list[str]:
    cells = re.findall(r'<td data-label="State">(.*?)</td>', html, flags=re.DOTALL)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def test_a_mail_written_to_a_file_says_where_it_went_not_sent(client, settings, upstream, staff, tmp_path):
    settings.EMAIL_HOST = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    mail_a_finished_run(upstream, staff)
    assert list((tmp_path / "mail").iterdir()), "the message is in the folder the page names"
    client.force_login(staff)
    cells = state_cells(client.get(reverse("notifications:page")).content.decode())
    assert cells == [f"Written to {tmp_path / 'mail'}/ (no mail server configured)"]


def test_a_folder_inside_the_project_is_named_as_the_operator_knows_it(client, settings, upstream, staff):
    settings.EMAIL_HOST = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # nothing written into the checkout
    settings.EMAIL_FILE_PATH = str(settings.BASE_DIR / "var" / "mail")
    mail_a_finished_run(upstream, staff)
    client.force_login(staff)
    cells = state_cells(client.get(reverse("notifications:page")).content.decode())
    assert cells == ["Written to var/mail/ (no mail server configured)"]


def test_a_mail_handed_to_the_mail_server_is_sent(client, upstream, staff, mail_to_smtp):
    mail_a_finished_run(upstream, staff)
    assert len(mail_to_smtp.received()) == 1
    client.force_login(staff)
    assert state_cells(client.get(reverse("notifications:page")).content.decode()) == ["Sent"]
