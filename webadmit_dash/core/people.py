"""People as pages name them: the full name when one is set, else the username ("downloaded by Maria Núñez").

One home for the rule, in Python for a user already loaded and as a database expression for a column read through a
relation (a page's rows annotate it rather than load a user per row).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import CharField, F, Func, Value
from django.db.models.functions import Coalesce, Concat, NullIf, Trim


def display_name(user: AbstractBaseUser | AnonymousUser | None) -> str:
    """The user's full name if set, else their username; "" for no one (a deleted user)."""
    if user is None or not user.is_authenticated:
        return ""
    full = getattr(user, "get_full_name", lambda: "")()
    return str(full).strip() or user.get_username()


def display_name_expression(relation: str) -> Func:
    """display_name() of the user at `relation` ("user", "acknowledged_by"), in SQL: NULL when there is none."""
    full = Trim(Concat(F(f"{relation}__first_name"), Value(" "), F(f"{relation}__last_name"), output_field=CharField()))
    return Coalesce(NullIf(full, Value("")), F(f"{relation}__username"), output_field=CharField())
