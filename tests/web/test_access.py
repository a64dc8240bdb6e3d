"""Who sees what: `visible_identities` and `visible_version`."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from webadmit_dash.core import access
from webadmit_dash.core.models import IdentityGrant, UserIdentity

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
