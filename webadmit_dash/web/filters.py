"""The Recent Files filters: what the page (and its poll) is narrowed to, read from the URL's query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.http import QueryDict

from webadmit_dash.core import states
from webadmit_dash.core.models import STATUS_CHOICES, Kind
from webadmit_dash.web import params, sorting
from webadmit_dash.web.common import IdentityRow
from webadmit_dash.web.date_range import DateRange
from webadmit_dash.webadmit.statuses import RUNNING

# Not WebAdMIT statuses: the handled files (core.states), which their own status's chip no longer counts. The Handled
# chip counts both kinds; `status=superseded` (the older Re-run chip's address) keeps listing the superseded ones.
SUPERSEDED = "superseded"
HANDLED = states.HANDLED
# Not a WebAdMIT status either: files a destination refused for good (ExportFile.delivery_failed_at), whatever their
# status. They need attention, so they have a chip of their own; their status's chip counts them too.
DELIVERY_FAILED = "delivery_failed"
# A group, not a status: every unfinished run (webadmit.statuses.RUNNING, handled ones apart), what the title's
# "2 running" counts; `status=running` answers "what's running?" in one click (see expand_groups).
RUNNING_GROUP = "running"
STATUS_VALUES = (*(status for status, _ in STATUS_CHOICES), SUPERSEDED, HANDLED, DELIVERY_FAILED, RUNNING_GROUP)


def expand_groups(statuses: Sequence[str]) -> set[str]:
    """The chosen chips with the running group said as its statuses: what the list selects and counts."""
    chosen = set(statuses)
    if RUNNING_GROUP in chosen:
        chosen = (chosen - {RUNNING_GROUP}) | {status.value for status in RUNNING}
    return chosen


@dataclass(frozen=True)
class FileFilters:
    """What the Recent Files page is narrowed to; every field lives in the URL so views can be shared.

    A bookmarked or shared URL can carry anything, so unknown values are dropped rather than failing the page,
    except an identity, CAS or cycle the user may not see: those filter to nothing, so a guessed id reveals
    nothing and a shared link never silently widens into a different list.
    """

    statuses: tuple[str, ...] = ()
    # core.states values (and "handled"): files in one of these states, among those the status chips keep.
    states: tuple[str, ...] = ()
    identity: int | None = None
    kind: str = ""  # a core Kind's value: export files only, or PDF Manager batches only; "" both
    association: str = ""
    cycle: str = ""
    q: str = ""
    expired: bool = False
    refused: bool = field(default=False, compare=False)
    seen: DateRange = field(default_factory=DateRange)  # when the runs were first seen (web/date_range.py)
    sort: str = ""  # web/sorting.py: "" is the default order; not a filter, but it travels with them in every link

    @classmethod
    def parse(cls, query: QueryDict, identities: Sequence[IdentityRow]) -> FileFilters:
        """Reads the filters from a URL's query, checked against the identities the user may see.

        Not a Django form: a superuser's identity list has hundreds of choices, and a form would normalise and
        validate them all on every page view and poll. Every value goes through `params`, which never raises.
        """
        identity_pk = params.integer(query, "identity", None, minimum=1)
        identity_asked = bool((params.value(query, "identity") or "").strip())
        association = params.text(query, "association", max_length=200)
        cycle = params.text(query, "cycle", max_length=200)
        visible_pks = {i.pk for i in identities}
        refused = bool(
            (identity_asked and identity_pk not in visible_pks)
            or (association and association not in {i.association for i in identities})
            or (cycle and cycle not in {i.cycle for i in identities})
        )
        return cls(
            statuses=params.choices(query, "status", STATUS_VALUES),
            states=params.choices(query, "state", states.STATE_VALUES),
            identity=identity_pk if identity_pk in visible_pks else None,
            kind=kind if (kind := params.value(query, "kind") or "") in Kind.values else "",
            association=association if not refused else "",
            cycle=cycle if not refused else "",
            q=params.text(query, "q", max_length=100),
            expired=params.flag(query, "expired"),
            refused=refused,
            seen=DateRange.parse(query),
            sort=sorting.parse(params.value(query, "sort")),
        )

    @property
    def scoped(self) -> bool:
        """Whether the filters narrow the identities (rather than listing every visible one)."""
        return bool(self.identity or self.association or self.cycle or self.refused)

    @property
    def active(self) -> bool:
        return bool(
            self.scoped or self.statuses or self.states or self.kind or self.q or self.expired or self.seen.active
        )

    @property
    def state_words(self) -> str:
        """The states asked for (?state=…), in words: the page says it is narrowed to them, as no chip shows it."""
        words = {state.value: state.label for state in states.FileState}
        words[states.HANDLED] = "Handled (superseded or acknowledged)"
        return ", ".join(words[state] for state in self.states)

    def params(self, *, without_status: bool = False) -> list[tuple[str, str]]:
        """The query parameters that reproduce these filters (empty ones left out, for short URLs)."""
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        if not without_status:
            pairs.extend(("status", status) for status in self.statuses)
        pairs.extend(("state", state) for state in self.states)
        if self.kind:
            pairs.append(("kind", self.kind))
        if self.identity:
            pairs.append(("identity", str(self.identity)))
        if self.association:
            pairs.append(("association", self.association))
        if self.cycle:
            pairs.append(("cycle", self.cycle))
        if self.expired:
            pairs.append(("expired", "1"))
        pairs.extend(self.seen.params())
        if self.sort:
            pairs.append(("sort", self.sort))
        return pairs

    def querystring(self, *extra: tuple[str, str]) -> str:
        return urlencode([*self.params(), *extra])

    def identity_ids(self, identities: Sequence[IdentityRow]) -> list[int]:
        """The visible identities these filters keep; computed in memory from the list the page loads anyway."""
        if self.refused:
            return []
        return [
            identity.pk
            for identity in identities
            if (self.identity is None or identity.pk == self.identity)
            and (not self.association or identity.association == self.association)
            and (not self.cycle or identity.cycle == self.cycle)
        ]

    def choices(self, identities: Sequence[IdentityRow]) -> dict[str, list[tuple[str, str, bool]]]:
        """(value, label, selected) for the kind, identity, CAS and cycle selects."""
        associations = sorted({i.association for i in identities if i.association})
        cycles = sorted({i.cycle for i in identities if i.cycle}, reverse=True)
        # The kind filter only where it can narrow something (an identity follows its PDF Manager batches, or the
        # address asks for a kind): most installations have export files alone, and their filter row stays short.
        kinds = (
            [("", "Files and batches", not self.kind)]
            + [(kind.value, kind.plural, kind.value == self.kind) for kind in Kind]
            if self.kind or any(identity.watch_pdf_batches for identity in identities)
            else []
        )
        return {
            "kind": kinds,
            "identity": [("", "All identities", not self.identity)]
            + [(str(i.pk), i.display_name, i.pk == self.identity) for i in identities],
            "association": [("", "All CAS", not self.association)]
            + [(a, a, a == self.association) for a in associations],
            "cycle": [("", "All cycles", not self.cycle)] + [(c, c, c == self.cycle) for c in cycles],
        }
