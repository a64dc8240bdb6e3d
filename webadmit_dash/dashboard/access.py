"""Who may see what: the one place that turns a user into the identities (and so the files) they may see.

Every view, fragment and download goes through `visible_identities()`; nothing else in the dashboard filters by
grants. Superusers see every enabled identity; everyone else sees those granted to them or to one of their groups.
Disabled identities are never shown to anyone.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from webadmit_dash.dashboard.models import IdentityGrant, UserIdentity


def _granted_identity_ids(user_id: int) -> QuerySet:
    """Ids of identities granted to the user directly or through any of their groups."""
    groups = get_user_model().groups.through.objects.filter(user_id=user_id).values("group_id")
    return IdentityGrant.objects.filter(Q(user_id=user_id) | Q(group_id__in=groups)).values("identity_id")


def visible_identities(user: AbstractBaseUser | AnonymousUser) -> QuerySet[UserIdentity]:
    """The enabled identities this user may see; empty for anonymous and inactive users."""
    enabled = UserIdentity.objects.filter(enabled=True)
    if not user.is_authenticated or not user.is_active:
        return enabled.none()
    if user.is_superuser:
        return enabled
    return enabled.filter(pk__in=_granted_identity_ids(user.pk))


def _latest_change(identities: QuerySet[UserIdentity]) -> Coalesce:
    # ORDER BY change_seq DESC LIMIT 1 walks the change_seq index instead of aggregating every identity.
    return Coalesce(Subquery(identities.order_by("-change_seq").values("change_seq")[:1]), Value(0))


def visible_version(user: AbstractBaseUser) -> int:
    """The latest change sequence among the identities the user may see: a page's "as of" token."""
    latest = visible_identities(user).order_by("-change_seq").values_list("change_seq", flat=True).first()
    return latest or 0


# Stands for the user's id while the query is compiled; never a real (positive, auto-incremented) key.
_USER_ID_PLACEHOLDER = -1_000_000_007  # within a 32-bit id column: Django drops out-of-range lookups


@cache
def _user_with_version_sql(alias: str) -> tuple[str, tuple]:
    """The user row with both versions attached, compiled once per database: building this ORM query costs
    about 3 ms of Python, ten times what running it does, and the poll's whole budget is 5 ms."""
    enabled = UserIdentity.objects.filter(enabled=True)
    granted = enabled.filter(pk__in=_granted_identity_ids(_USER_ID_PLACEHOLDER))
    query = (
        get_user_model()
        ._default_manager.filter(pk=_USER_ID_PLACEHOLDER)
        .annotate(_all_version=_latest_change(enabled), _granted_version=_latest_change(granted))
    )
    return query.query.get_compiler(alias).as_sql()


def session_user_with_version(request: HttpRequest) -> tuple[AbstractBaseUser, int] | None:
    """The signed-in user and their `visible_version`, in one query; None when that cannot be proven.

    The unchanged poll has a budget of two queries: the session, and this. Going through `request.user` would
    spend one query on the user and another on the version, so this repeats the checks `auth.get_user` makes
    (the session's backend is a configured ModelBackend, the user may authenticate, the session hash matches the
    current secret) while loading the user with its version attached. It only ever accepts a session Django
    would accept; anything unusual (no hash, a fallback secret, another backend) returns None so the caller
    falls back to `request.user`, where Django handles it, flushing the session if need be.
    """
    session = request.session
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
        session_hash = session[HASH_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    backend = load_backend(backend_path)
    if not isinstance(backend, ModelBackend):
        return None
    sql, params = _user_with_version_sql(DEFAULT_DB_ALIAS)
    params = [user_id if param == _USER_ID_PLACEHOLDER else param for param in params]
    user = next(iter(get_user_model()._default_manager.raw(sql, params)), None)
    if user is None or not backend.user_can_authenticate(user):
        return None
    if not session_hash or not constant_time_compare(session_hash, user.get_session_auth_hash()):
        return None
    return user, user._all_version if user.is_superuser else user._granted_version
