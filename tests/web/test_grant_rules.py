"""Granting many identities at once: a group's rules ("every PTCAS identity of 2026 - 2027") that cover identities
imported later, read by core.access at every request, and the identity list's action that lets a group see the
selected identities."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction
from django.urls import reverse

from tests.support.factories import make_file
from tests.web.test_poll import HTMX, poll_url
from webadmit_dash.core import access
from webadmit_dash.core.models import GroupGrantRule, IdentityGrant, UserIdentity
from webadmit_dash.web import common, file_lookup

pytestmark = pytest.mark.django_db


@pytest.fixture
def ptcas_group() -> Group:
    return Group.objects.create(name="PTCAS readers")


@pytest.fixture
def member(ptcas_group) -> User:
    user = User.objects.create_user("erin", "erin@example.edu", "password")
    user.groups.add(ptcas_group)
    return user


def new_identity(credential, webadmit_id: int, association: str, cycle: str, **fields) -> UserIdentity:
    return UserIdentity.objects.create(
        credential=credential, webadmit_id=webadmit_id, association=association, cycle=cycle, **fields
    )


def test_a_rule_shows_the_group_every_identity_that_matches(credential, member, ptcas_group, identity):
    matching = new_identity(credential, 1, "PTCAS", "2026 - 2027")
    new_identity(credential, 2, "PTCAS", "2025 - 2026")  # another cycle
    GroupGrantRule.objects.create(group=ptcas_group, association="PTCAS", cycle="2026 - 2027")

    assert list(access.visible_identities(member)) == [matching]


def test_an_identity_imported_after_the_rule_is_visible_at_once(credential, member, ptcas_group):
    GroupGrantRule.objects.create(group=ptcas_group, association="PTCAS")
    assert not access.visible_identities(member).exists()

    later = new_identity(credential, 3, "PTCAS", "2027 - 2028")
    export_file = make_file(later, webadmit_id=207_434)

    assert list(access.visible_identities(member)) == [later]
    assert access.visible_version(member) == later.change_seq > 0
    assert [row.pk for row in common.identities(member)] == [later.pk]
    assert file_lookup.find_file(member, 207_434).file == export_file


def test_the_new_identity_is_on_the_members_pages(client, credential, member, ptcas_group):
    GroupGrantRule.objects.create(group=ptcas_group, cycle="2027 - 2028")
    later = new_identity(credential, 4, "OTCAS", "2027 - 2028", organization="Occupational Therapy")
    export_file = make_file(later)
    client.force_login(member)

    page = client.get(reverse("recent_files"))

    assert f'<tr id="file-{export_file.pk}"' in page.content.decode()
    assert client.get(reverse("file_detail", args=[export_file.pk])).status_code == 200


def test_an_open_page_hears_of_an_identity_imported_after_the_rule(client, credential, member, ptcas_group):
    GroupGrantRule.objects.create(group=ptcas_group, association="PTCAS")
    make_file(new_identity(credential, 10, "PTCAS", "2026 - 2027"))
    client.force_login(member)
    poll = poll_url(client.get(reverse("recent_files")).content.decode())
    assert client.get(poll, **HTMX).status_code == 204

    later = new_identity(credential, 11, "PTCAS", "2027 - 2028")
    make_file(later)  # its first refresh

    assert client.get(poll, **HTMX).status_code == 200


def test_a_rule_matches_names_whatever_their_case(credential, member, ptcas_group):
    ptcas = new_identity(credential, 5, "PTCAS", "2026 - 2027")
    GroupGrantRule.objects.create(group=ptcas_group, association="ptcas")

    assert list(access.visible_identities(member)) == [ptcas]


def test_a_rule_shows_nothing_to_non_members_nor_disabled_identities(credential, member, ptcas_group, staff_none):
    new_identity(credential, 6, "PTCAS", "2026 - 2027", enabled=False)
    shown = new_identity(credential, 7, "PTCAS", "2026 - 2027")
    GroupGrantRule.objects.create(group=ptcas_group, association="PTCAS")

    assert list(access.visible_identities(member)) == [shown]
    assert not access.visible_identities(staff_none).exists()


def test_removing_the_rule_or_leaving_the_group_hides_them_again(credential, member, ptcas_group):
    new_identity(credential, 8, "PTCAS", "2026 - 2027")
    rule = GroupGrantRule.objects.create(group=ptcas_group, association="PTCAS")
    member.groups.remove(ptcas_group)
    assert not access.visible_identities(member).exists()
    member.groups.add(ptcas_group)
    rule.delete()
    assert not access.visible_identities(member).exists()


def test_a_rule_must_name_something(ptcas_group):
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupGrantRule.objects.create(group=ptcas_group)


# The admin


def test_rules_are_added_on_the_groups_page(admin_client, ptcas_group, credential):
    new_identity(credential, 9, "PTCAS", "2026 - 2027")
    url = reverse("admin:auth_group_change", args=[ptcas_group.pk])
    page = admin_client.get(url).content.decode()
    assert "every identity whose association and cycle match" in page

    response = admin_client.post(
        url,
        {
            "name": ptcas_group.name,
            "identity_grant_rules-TOTAL_FORMS": "1",
            "identity_grant_rules-INITIAL_FORMS": "0",
            "identity_grant_rules-0-association": "  PTCAS ",
            "identity_grant_rules-0-cycle": "",
            "identity_grants-TOTAL_FORMS": "0",
            "identity_grants-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    rule = GroupGrantRule.objects.get()
    assert (rule.group, rule.association, rule.cycle) == (ptcas_group, "PTCAS", "")
    listed = admin_client.get(reverse("admin:dashboard_groupgrantrule_changelist")).content.decode()
    assert "PTCAS readers" in listed and ">any<" in listed
    assert (
        admin_client.get(reverse("admin:dashboard_groupgrantrule_change", args=[rule.pk])).context["original"] == rule
    )


def test_a_rule_naming_nothing_is_refused_in_words(admin_client, ptcas_group):
    response = admin_client.post(reverse("admin:dashboard_groupgrantrule_add"), {"group": ptcas_group.pk})

    assert response.status_code == 200
    assert "Name an association, a cycle or both" in response.content.decode()
    assert not GroupGrantRule.objects.exists()


def test_the_identity_list_action_asks_for_the_group_then_grants(admin_client, ptcas_group, identity, other_identity):
    changelist = reverse("admin:dashboard_useridentity_changelist")
    IdentityGrant.objects.create(identity=identity, group=ptcas_group)
    selected = {"action": "grant_to_group", "_selected_action": [identity.pk, other_identity.pk]}

    asked = admin_client.post(changelist, selected)

    assert asked.status_code == 200
    assert asked.templates[0].name == "admin/grant_identities.html"
    body = asked.content.decode()
    assert identity.display_name in body and other_identity.display_name in body

    refused = admin_client.post(changelist, {**selected, "apply": "1", "group": ""})
    assert "Choose the group whose members should see these identities." in refused.content.decode()
    assert IdentityGrant.objects.count() == 1

    done = admin_client.post(changelist, {**selected, "apply": "1", "group": ptcas_group.pk}, follow=True)

    assert set(IdentityGrant.objects.filter(group=ptcas_group).values_list("identity_id", flat=True)) == {
        identity.pk,
        other_identity.pk,
    }
    assert "Members of “PTCAS readers” may now see 2 identities (1 of them already could)." in done.content.decode()
