"""Query parameters: the one place where a URL's query string becomes values.

A URL can carry anything (a bookmark, a hand-edited link, an attacker's probe), so every reader here answers with
its default for a value that is missing, malformed or out of range, and never raises: bad input costs the user a
filter, never a 500. Pages and fragments read their query through these functions only, so that:

- numbers are read by one strict function, `whole_number`;
- every name a page reads is recorded in `NAMES_READ`, which the property-based test
  (tests/web/test_bad_input.py) throws random values at, for pages added later too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from typing import TypeVar

from django.http import QueryDict

# The bounds of the signed 64-bit columns (ids, change sequences): a value past them cannot match a row, and
# SQLite raises OverflowError on it instead of finding nothing.
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
# ASCII digits only: str.isdigit() accepts "²", which int() refuses, and int() accepts " 7", "7_0" and
# Arabic-Indic digits, none of which a link of ours ever carries.
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,19}")
# No parameter of ours is longer; a longer value is cut before it is looked at, so a megabyte costs nothing.
MAX_VALUE_CHARS = 4096

NAMES_READ: set[str] = set()

D = TypeVar("D", int, None)


def whole_number(raw: str | None, default: D, *, minimum: int = BIGINT_MIN, maximum: int = BIGINT_MAX) -> int | D:
    """The whole number `raw` spells in ASCII digits, if it lies in [minimum, maximum]; else `default`.

    THE parser of numbers that come from a URL: the readers below, page keys and the search's file id use it.
    """
    if raw is None or not _WHOLE_NUMBER.fullmatch(raw):
        return default
    value = int(raw)
    return value if minimum <= value <= maximum else default


def value(query: QueryDict, name: str) -> str | None:
    """The parameter's last value as given (cut to MAX_VALUE_CHARS), or None when it is absent."""
    NAMES_READ.add(name)
    raw = query.get(name)
    return None if raw is None else raw[:MAX_VALUE_CHARS]


def integer(
    query: QueryDict, name: str, default: D, *, minimum: int = BIGINT_MIN, maximum: int = BIGINT_MAX
) -> int | D:
    """A whole number in [minimum, maximum] (a signed 64-bit column's range unless narrowed), else `default`."""
    return whole_number(value(query, name), default, minimum=minimum, maximum=maximum)


def integers(
    query: QueryDict, name: str, *, limit: int, minimum: int = 1, maximum: int = BIGINT_MAX
) -> tuple[int, ...]:
    """A comma-separated list of whole numbers (such as row ids), at most `limit` of them; bad items are dropped."""
    numbers = []
    for part in (value(query, name) or "").split(",")[:limit]:
        number = whole_number(part, None, minimum=minimum, maximum=maximum)
        if number is not None:
            numbers.append(number)
    return tuple(numbers)


def text(query: QueryDict, name: str, *, max_length: int) -> str:
    """Free text (a search, a name to match), trimmed and cut to `max_length`, without control characters.

    PostgreSQL refuses a NUL in a query parameter outright, and no other control character means anything here.
    """
    raw = value(query, name) or ""
    return "".join(char for char in raw if unicodedata.category(char) != "Cc").strip()[:max_length]


def choices(query: QueryDict, name: str, allowed: Collection[str]) -> tuple[str, ...]:
    """The allowed values of a repeated parameter (?status=a&status=b), each once, in the order of `allowed`."""
    NAMES_READ.add(name)
    asked = set(query.getlist(name))
    return tuple(choice for choice in allowed if choice in asked)


def flag(query: QueryDict, name: str) -> bool:
    """A checkbox: on for any value but empty or "0"."""
    return value(query, name) not in (None, "", "0")


# Django's admin reads its own query. Four kinds of value crash it (a 500) instead of being refused: a whole
# number past 64 bits (in a filter, or a form's initial value: SQLite cannot hold it), a date drill-down past the
# calendar (?changed_at__year=99999999999), an empty ?_to_field= (Django looks up a field named ""), and a NUL
# character (PostgreSQL refuses it in a search). Admin requests are checked for them first
# (web/middleware.py AdminQueryGuardMiddleware); Django refuses the rest well.
_DATE_PARTS = {"year": 9999, "month": 12, "day": 31}
_DIGITS = re.compile(r"-?[0-9]+")


def admin_query_problem(query: QueryDict) -> str | None:
    """What is wrong with an admin page's query, in words, or None when the admin can be given it."""
    if "" in query.getlist("_to_field"):
        return "“_to_field” must name a field."
    for name, values in query.lists():
        if any("\x00" in raw for raw in values):
            return f"“{name}” holds a NUL character, which nothing here can search for."
        part = name.rsplit("__", 1)[-1] if "__" in name else ""
        for item in (item for raw in values for item in raw[:MAX_VALUE_CHARS].split(",")):
            if not _DIGITS.fullmatch(item):
                continue
            if part in _DATE_PARTS and whole_number(item, None, minimum=1, maximum=_DATE_PARTS[part]) is None:
                return f"“{name}” must be a {part} between 1 and {_DATE_PARTS[part]}."
            if whole_number(item, None) is None:
                return f"“{name}” holds a number too large to be an id or a count."
    return None
