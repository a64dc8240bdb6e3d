"""The number people read on a row is WebAdMIT's file id: /files/<n>/ and the API accept it too. One match is that
file (the page redirects to its own address), several are offered to choose from (the page lists them, the API
answers 300), and a file the user may not see is a plain 404 that hints at nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.support.factories import make_export, make_file

pytestmark = pytest.mark.django_db


def page(number: int) -> str:
    return reverse("file_detail", args=[number])


def test_our_id_shows_the_file(client, staff_granted, identity):
    export_file = make_file(identity, webadmit_id=207_434)
    client.force_login(staff_granted)

    response = client.get(page(export_file.pk))

    assert response.status_code == 200
    assert response.context["file"] == export_file


def test_webadmit_id_redirects_to_the_files_own_address_keeping_the_query(client, staff_granted, identity):
    export_file = make_file(identity, webadmit_id=207_434)
    client.force_login(staff_granted)

    response = client.get(page(207_434), {"next": "/?status=failed"})

    assert response.status_code == 302
    assert response["Location"] == page(export_file.pk) + "?next=%2F%3Fstatus%3Dfailed"


def test_the_same_webadmit_id_under_two_identities_asks_which(client, admin_user, identity, other_identity):
    first = make_file(identity, webadmit_id=207_434, export=make_export(identity, 1, "Interview Roster"))
    second = make_file(other_identity, webadmit_id=207_434, export=make_export(other_identity, 2, "Café Roster"))
    client.force_login(admin_user)

    response = client.get(page(207_434))

    assert response.status_code == 200
    assert response.templates[0].name == "files/which_file.html"
    body = response.content.decode()
    assert "Which file did you mean?" in body
    for candidate, export_name in ((first, "Interview Roster"), (second, "Café Roster")):
        assert f'href="{page(candidate.pk)}"' in body
        assert candidate.identity.display_name in body
        assert export_name in body


def test_our_id_of_one_file_and_webadmits_of_another_asks_which(client, admin_user, identity, other_identity):
    ours = make_file(identity, webadmit_id=555_001)
    theirs = make_file(other_identity, webadmit_id=ours.pk)
    client.force_login(admin_user)

    response = client.get(page(ours.pk))

    assert response.status_code == 200
    assert list(response.context["candidates"]) == [ours, theirs]
    body = response.content.decode()
    assert "This dashboard&#x27;s number for it" in body or "This dashboard's number for it" in body
    assert "WebAdMIT&#x27;s file id" in body or "WebAdMIT's file id" in body


def test_a_file_carrying_its_own_id_as_webadmits_is_one_file(client, admin_user, identity):
    export_file = make_file(identity)
    export_file.webadmit_id = export_file.pk
    export_file.save()
    client.force_login(admin_user)

    assert client.get(page(export_file.pk)).context["file"] == export_file


def test_an_invisible_files_webadmit_id_is_404(client, staff_granted, other_identity):
    make_file(other_identity, webadmit_id=207_434)
    client.force_login(staff_granted)

    assert client.get(page(207_434)).status_code == 404


def test_an_invisible_file_never_makes_a_visible_one_ambiguous(client, staff_granted, identity, other_identity):
    ours = make_file(identity, webadmit_id=555_001)
    make_file(other_identity, webadmit_id=ours.pk)  # other_identity is not granted to staff_granted
    client.force_login(staff_granted)

    response = client.get(page(ours.pk))

    assert response.status_code == 200
    assert response.context["file"] == ours
