"""Who sees what: `visible_identities` and the one-query sign-in check of the poll."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory

from webadmit_dash.dashboard import access
from webadmit_dash.dashboard.models import IdentityGrant, UserIdentity

pytestmark = pytest.mark.django_db


def test_superusers_see_every_enabled_identity(admin_user, identity, other_identity):
    assert set(access.visible_identities(admin_user)) == {identity, other_identity}


def test_staff_see_identities_granted_to_them(staff_granted, identity, other_identity):
    assert list(access.visible_identities(staff_granted)) == [identity]


def test_staff_see_identities_granted_to_their_groups(staff_via_group, identity, other_identity):
    assert list(access.visible_identities(staff_via_group)) == [other_identity]


def test_a_user_granted_both_ways_sees_each_identity_once(staff_via_group, other_identity):
    IdentityGrant.objects.create(identity=other_identity, user=staff_via_group)
    assert list(access.visible_identities(staff_via_group)) == [other_identity]


def test_staff_granted_nothing_see_nothing(staff_none, identity):
    assert not access.visible_identities(staff_none).exists()


def test_disabled_identities_are_never_shown(admin_user, staff_granted, identity):
    UserIdentity.objects.filter(pk=identity.pk).update(enabled=False)
    assert not access.visible_identities(admin_user).exists()
    assert not access.visible_identities(staff_granted).exists()


def test_inactive_users_see_nothing(staff_granted, identity):
    staff_granted.is_active = False
    assert not access.visible_identities(staff_granted).exists()


def test_visible_version_is_the_latest_change_among_visible_identities(staff_granted, identity, other_identity):
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=7)
    UserIdentity.objects.filter(pk=other_identity.pk).update(change_seq=99)
    assert access.visible_version(staff_granted) == 7
    assert access.visible_version(User.objects.create_superuser("root", "", "x")) == 99


def _signed_in_request(client, user) -> object:
    client.force_login(user)
    request = RequestFactory().get("/files/poll/")
    request.session = client.session
    return request


def test_session_user_with_version_loads_user_and_version_in_one_query(
    client, staff_granted, identity, other_identity, django_assert_num_queries
):
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=5)
    UserIdentity.objects.filter(pk=other_identity.pk).update(change_seq=9)
    request = _signed_in_request(client, staff_granted)
    request.session.keys()  # loads the session: its query is not this helper's
    with django_assert_num_queries(1):
        user, version = access.session_user_with_version(request)
    assert (user, version) == (staff_granted, 5)


def test_session_user_with_version_counts_group_grants_and_superusers(
    client, staff_via_group, admin_user, identity, other_identity
):
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=5)
    UserIdentity.objects.filter(pk=other_identity.pk).update(change_seq=3)
    assert access.session_user_with_version(_signed_in_request(client, staff_via_group))[1] == 3
    assert access.session_user_with_version(_signed_in_request(client, admin_user))[1] == 5


def test_session_user_with_version_refuses_what_django_would_refuse(client, staff_granted, identity):
    request = _signed_in_request(client, staff_granted)
    staff_granted.set_password("a new password")  # changes the session hash: old sessions end
    staff_granted.save()
    assert access.session_user_with_version(request) is None

    request = _signed_in_request(client, staff_granted)
    User.objects.filter(pk=staff_granted.pk).update(is_active=False)
    assert access.session_user_with_version(request) is None

    anonymous = RequestFactory().get("/")
    anonymous.session = client.session.__class__()
    assert access.session_user_with_version(anonymous) is None
