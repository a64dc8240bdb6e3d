"""Who may see what: the one place that turns a user into the identities (and so the files) they may see.

Every page, fragment, download (and later API call and notification) goes through `visible_identities()`; nothing
else filters by grants. Superusers see every enabled identity; everyone else sees those granted to them or to one
of their groups, and those matching a grant rule of one of their groups (association and/or cycle). Rules are read
at every call, never copied into grants, so an identity imported next cycle is visible to the group at once.
Disabled identities are never shown to anyone.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from webadmit_dash.core.models import GroupGrantRule, IdentityGrant, UserIdentity


def _group_ids(user_id: int) -> QuerySet[Any, Any]:
    return get_user_model().groups.through.objects.filter(user_id=user_id).values("group_id")


def _granted_identity_ids(user_id: int) -> QuerySet[IdentityGrant, Any]:
    """Ids of identities granted to the user directly or through any of their groups."""
    return IdentityGrant.objects.filter(Q(user_id=user_id) | Q(group_id__in=_group_ids(user_id))).values("identity_id")


def _rule_matched_identity_ids(user_id: int) -> RawSQL:
    """Ids of identities matching a grant rule of one of the user's groups: a blank field of a rule matches any
    value, names compare case aside (as the admin's count of a rule's identities, `web.access_admin`).

    Written as one join, driven from the user's groups' rules (none for most people, so nothing to do), because
    the ORM has no relation to join on: said with OuterRef, the same condition cost the poll's version query two to
    three times its time (mostly building the query), measured in process with 300 identities.
    """
    identity = UserIdentity._meta.db_table
    rule = GroupGrantRule._meta.db_table
    membership = get_user_model().groups.through._meta.db_table
    # Table names come from the models and the user id is a parameter: nothing from outside reaches the SQL text.
    return RawSQL(  # noqa: S611
        f"SELECT i.id FROM {membership} m "  # noqa: S608
        f"JOIN {rule} r ON r.group_id = m.group_id "
        f"JOIN {identity} i ON (r.association = '' OR UPPER(r.association) = UPPER(i.association)) "
        "AND (r.cycle = '' OR UPPER(r.cycle) = UPPER(i.cycle)) "
        "WHERE m.user_id = %s",
        [user_id],
    )


def visible_identities(user: AbstractBaseUser | AnonymousUser) -> QuerySet[UserIdentity]:
    """The enabled identities this user may see; empty for anonymous and inactive users."""
    enabled = UserIdentity.objects.filter(enabled=True)
    if not user.is_authenticated or not user.is_active:
        return enabled.none()
    if getattr(user, "is_superuser", False):
        return enabled
    return enabled.filter(Q(pk__in=_granted_identity_ids(user.pk)) | Q(pk__in=_rule_matched_identity_ids(user.pk)))


def visible_version(user: AbstractBaseUser | AnonymousUser) -> int:
    """The latest change sequence among the identities the user may see: a page's "as of" token.

    ORDER BY change_seq DESC LIMIT 1 walks the change_seq index instead of aggregating every identity.
    """
    latest = visible_identities(user).order_by("-change_seq").values_list("change_seq", flat=True).first()
    return latest or 0
