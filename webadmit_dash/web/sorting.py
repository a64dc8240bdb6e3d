"""The orders the Recent Files list can be sorted in: one `sort` value in the URL, shared by the page, its pager,
its poll, the CSV and the API.

Each order is a list of columns ending in the primary key, so that it is total and keyset pages
(web/pagination.py SortKey) neither skip nor repeat a file when many share a status, an export or a time.

- The default (no `sort`): files needing attention first, then newest (file_dashboard_order_idx).
- `status`: by the status's words as the rows show them, A to Z (Available, Empty List, Failed, In Progress ...),
  stored as ExportFile.status_rank.
- `export`: by the export's name, ignoring case; files whose export WebAdMIT has not named yet sort as "".
- `identity`: by the identity's name as the page shows it (its title, then its cycle), ignoring case and accents.
  The names are ranked in Python from the identities the page loads anyway (one home for a name: IdentityNames),
  and the rank is given to the database as a CASE over the identity id; page keys carry the identity's id, not its
  rank, so a page boundary stays put when an identity is added while someone pages.
- `first_seen`: when the dashboard first saw the file.
- `finished`: when the run reached an outcome (its status_changed_at once its status is not RUNNING). A run still
  going has not finished: it sorts as if it finishes in the future, so `-finished` (newest first) lists running files
  first and `finished` (oldest first) lists them last; among themselves they are in the order of their last change.
  ExportFile.finished_rank stores which are going.

The default, first seen, status and finished orders are read down an index of their own and stop after a page; the
identity order reads a batch of identities at a time (pagination.IDENTITY_BATCH); the export order sorts what the
filters keep (the whole list without a filter).

Within one status, export or identity the newest files come first whichever way the column is sorted.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from django.db.models import F, OrderBy, QuerySet, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce, Lower

from webadmit_dash.core.models import STATUSES_BY_LABEL, ExportFile, IdentityNames

Kind = Literal["int", "time", "text", "identity"]


@dataclass(frozen=True)
class Column:
    """One column of an order: a model field, or an alias the order adds (Order.expressions)."""

    name: str
    descending: bool
    kind: Kind
    minimum: int | None = None  # for int columns: the range a key may carry
    maximum: int | None = None


# The tie-breaks every order but first_seen ends with: newest first, the primary key last for a total order.
_NEWEST = (
    Column("first_seen_at", True, "time"),
    Column("webadmit_id", True, "int"),
    Column("id", True, "int"),
)
# What the URL's `sort` may say: the column (A to Z, or oldest first), or with a leading "-" the other way round.
SORTABLE = ("status", "export", "identity", "first_seen", "finished")
SORT_VALUES = tuple(value for name in SORTABLE for value in (name, f"-{name}"))
# The words for each order, for the column headers, the phone's select and the caption.
_WORDS = {
    "": "needs attention first, then newest",
    "status": "status, A to Z",
    "-status": "status, Z to A",
    "export": "export, A to Z",
    "-export": "export, Z to A",
    "identity": "identity, A to Z",
    "-identity": "identity, Z to A",
    "first_seen": "first seen, oldest first",
    "-first_seen": "first seen, newest first",
    "finished": "finished, oldest first (running last)",
    "-finished": "finished, newest first (running first)",
}
# The way a column sorts when its header is first chosen: names A to Z, times newest first.
FIRST_CHOICE = {
    "status": "status",
    "export": "export",
    "identity": "identity",
    "first_seen": "-first_seen",
    "finished": "-finished",
}


def words(sort: str) -> str:
    return _WORDS[sort]


@dataclass(frozen=True)
class Order:
    """One order of the files: its URL value ("" for the default), its columns, and the expressions behind them."""

    sort: str
    columns: tuple[Column, ...]
    expressions: Mapping[str, Combinable] = field(default_factory=dict)
    # identity order only: each visible identity's place, by id
    identity_ranks: Mapping[int, int] = field(default_factory=dict)
    # Read down an index of its own (core.models ExportFile.Meta), which stops after a page, or (identity) through
    # the identity index a batch at a time: a date range must not lead SQLite to read the range's index instead and
    # sort all of the range (web/query_hints.py).
    indexed: bool = False

    @property
    def is_default(self) -> bool:
        return not self.sort

    @property
    def words(self) -> str:
        return words(self.sort)

    def prepare(self, files: QuerySet[ExportFile]) -> QuerySet[ExportFile]:
        """The files with this order's computed columns, read with each row (SortKey.of needs them)."""
        return files.annotate(**self.expressions) if self.expressions else files

    def order_by(self, *, reverse: bool = False) -> list[OrderBy]:
        return [OrderBy(F(column.name), descending=column.descending != reverse) for column in self.columns]


DEFAULT = Order(
    "",
    (
        Column("attention_rank", False, "int", 0, 1),
        Column("first_seen_at", True, "time"),
        Column("webadmit_id", True, "int"),
        Column("id", True, "int"),
    ),
    indexed=True,
)


def parse(raw: str | None) -> str:
    """The sort a URL asks for, or "" (the default) for anything we do not offer: a page never fails on it."""
    return raw if raw in SORT_VALUES else ""


def order(sort: str, identities: Sequence[IdentityNames] = ()) -> Order:
    """The Order for a `sort` value (from parse), given the identities the page may list (for `identity`)."""
    if not sort:
        return DEFAULT
    name = sort.removeprefix("-")
    down = sort.startswith("-")
    if name == "first_seen":
        return Order(
            sort,
            (
                Column("first_seen_at", down, "time"),
                Column("webadmit_id", down, "int"),
                Column("id", down, "int"),
            ),
        )
    if name == "status":
        # By the stored rank of the status's words (status_rank), not the stored text: databases collate
        # "in_progress" and "initializing" differently.
        return Order(sort, (Column("status_rank", down, "int", 0, len(STATUSES_BY_LABEL)), *_NEWEST), indexed=True)
    if name == "export":
        # Lower: "apple" and "Zebra" in the order people expect, on SQLite (binary) and PostgreSQL alike.
        expression = Lower(Coalesce(F("export__name"), Value("")))
        return Order(sort, (Column("sort_export", down, "text"), *_NEWEST), {"sort_export": expression})
    if name == "finished":
        return Order(
            sort,
            (Column("finished_rank", down, "int", 0, 1), Column("status_changed_at", down, "time"), *_NEWEST),
            indexed=True,
        )
    # Read a batch of identities at a time through the identity index, each batch ranked by a CASE of its own
    # (pagination.IDENTITY_BATCH); a row's rank, for its page key, is read from `identity_ranks`. No CASE over every
    # identity: building one of 500 cost more than the rest of the page.
    return Order(
        sort, (Column("sort_identity", down, "identity"), *_NEWEST), {}, identity_ranks(identities), indexed=True
    )


@functools.lru_cache(maxsize=4096)  # the same few hundred names, page after page
def _comparable(text: str) -> str:
    """Text as people compare names: case and accents aside ("Université" with "universite")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def identity_ranks(identities: Iterable[IdentityNames]) -> dict[int, int]:
    """Each identity's place when sorted by its name as the rows show it (title, then cycle), by id."""
    ordered = sorted(
        identities,
        key=lambda identity: (_comparable(identity.title), _comparable(identity.cycle), identity.webadmit_id),
    )
    return {identity.pk: place for place, identity in enumerate(ordered)}  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Header:
    """A sortable column header: the sort its link asks for, and what a screen reader hears."""

    sort: str  # what choosing the header sorts by
    aria_sort: str  # "ascending", "descending" or "" (not sorted by it)
    label: str
    says: str  # "sorted by export, A to Z; choose to sort by export, Z to A"
    query: str = ""  # the page's query with this sort (filled in by the view, which knows the filters)


def headers(current: str) -> dict[str, Header]:
    """The headers of the sortable columns, for the list sorted by `current`; choosing the sorted one reverses it."""
    result = {}
    for name, label in zip(SORTABLE, ("Status", "Export", "Identity", "First seen", "Finished"), strict=True):
        if current.removeprefix("-") == name:
            following = current[1:] if current.startswith("-") else f"-{current}"
            aria = "descending" if current.startswith("-") else "ascending"
            says = f"sorted by {words(current)}; choose to sort by {words(following)}"
        else:
            following, aria = FIRST_CHOICE[name], ""
            says = f"choose to sort by {words(following)}"
        result[name] = Header(following, aria, label, says)
    return result


def options(current: str) -> list[tuple[str, str, bool]]:
    """(value, words, selected) for the phone's order select."""
    return [(sort, words(sort)[:1].upper() + words(sort)[1:], sort == current) for sort in ("", *SORT_VALUES)]
