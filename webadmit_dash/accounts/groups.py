"""The groups a campus sign-in says a person belongs to, made their Django groups."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, User


def split(raw: str, separator: str) -> list[str]:
    return [name.strip() for name in raw.split(separator) if name.strip()]


def sync_groups(user: User, names: Iterable[str]) -> None:
    """Makes the user a member of exactly the named groups that exist here.

    The identity provider then owns group membership: an administrator creates a group named as the campus group
    (e.g. `admissions-ops`) and grants identities to it; a person joins or leaves it at their next sign-in. Campus
    groups with no Django group of that name are ignored, so a directory's hundreds of groups do not flood the admin.
    """
    wanted = set(Group.objects.filter(name__in=set(names)).values_list("pk", flat=True))
    current = set(user.groups.values_list("pk", flat=True))
    if wanted - current:
        user.groups.add(*(wanted - current))
    if current - wanted:
        user.groups.remove(*(current - wanted))
