"""People as pages name them: the full name when one is set, else the username ("downloaded by Maria Núñez").

One home for the rule, in Python for a user already loaded and as a database expression for a column read through a
relation (a page's rows read the user's columns with theirs rather than load a user per row).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def display_name(user: AbstractBaseUser | AnonymousUser | None) -> str:
    """The user's full name if set, else their username; "" for no one (a deleted user)."""
    if user is None or not user.is_authenticated:
        return ""
    full = getattr(user, "get_full_name", lambda: "")()
    return str(full).strip() or user.get_username()


def display_name_of(first_name: str | None, last_name: str | None, username: str | None) -> str | None:
    """display_name() from a user's columns read with a row (a download's user, by a join); None for no one."""
    if username is None:
        return None
    return f"{first_name or ''} {last_name or ''}".strip() or username
