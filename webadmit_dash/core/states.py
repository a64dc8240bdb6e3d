"""What a file's *state* is: the one definition of "needs attention" and "handled" that every surface reads.

A file is in exactly one state, decided in this order:

- needs attention: core's NEEDS_ATTENTION, stored as `attention_rank == 0` (unfinished, failed and not acknowledged,
  or refused for good by a destination);
- superseded: a later run of its export ended well (`superseded_by`), so nobody needs to look at it any more;
- acknowledged: it failed and a person said they have seen it;
- done: anything else (a run that ended well, or an empty one).

"Handled" is superseded or acknowledged. So "failed" on every surface (the tab's title, the Failed chip, the list's
`status=failed`, the API, the CSV and /metrics) means status Failed and needing attention, and a handled failure is
counted once, under Handled. The database form (`CONDITIONS`, `expression`) and the Python form (`state_of`) say the
same thing; tests/web/test_one_meaning.py holds every surface to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Case, Q, Value, When

from webadmit_dash.webadmit.statuses import FileStatus

if TYPE_CHECKING:
    from webadmit_dash.core.models import ExportFile


class FileState(models.TextChoices):
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    SUPERSEDED = "superseded", "Superseded (re-run well)"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    DONE = "done", "Done"


# Not a state: the name of the two states nobody needs to act on any more, for the filters and the Handled chip.
HANDLED = "handled"
HANDLED_STATES = (FileState.SUPERSEDED, FileState.ACKNOWLEDGED)
# What the `state` filter accepts: each state, and "handled" for both of its states.
STATE_VALUES = (*(state.value for state in FileState), HANDLED)

# Each state as a condition on the stored columns, exclusive of the others (attention_rank first, as in state_of).
CONDITIONS: dict[FileState, Q] = {
    FileState.NEEDS_ATTENTION: Q(attention_rank=0),
    FileState.SUPERSEDED: Q(attention_rank=1, superseded_by__isnull=False),
    FileState.ACKNOWLEDGED: Q(
        attention_rank=1, superseded_by__isnull=True, status=FileStatus.FAILED, acknowledged_at__isnull=False
    ),
    # Neither of the above: not needing attention, not superseded, and not a failure (those are acknowledged).
    FileState.DONE: Q(attention_rank=1, superseded_by__isnull=True) & ~Q(status=FileStatus.FAILED),
}


def expand(values: Iterable[str]) -> list[FileState]:
    """The states a filter's values name ("handled" being two of them), in the enum's order."""
    chosen = set(values)
    if HANDLED in chosen:
        chosen |= set(HANDLED_STATES)
    return [state for state in FileState if state.value in chosen]


def condition(values: Iterable[str]) -> Q:
    """Files in any of the states these values name (nothing for none)."""
    found = Q(pk__in=[])
    for state in expand(values):
        found |= CONDITIONS[state]
    return found


def ranks(values: Iterable[str]) -> list[int]:
    """The attention ranks files in these states have: saying so lets the database enter its order index there."""
    return sorted({0 if state is FileState.NEEDS_ATTENTION else 1 for state in expand(values)})


def expression() -> Case:
    """The state as a column, for annotate() and values()."""
    return Case(
        *(When(CONDITIONS[state], then=Value(state.value)) for state in FileState),
        output_field=models.CharField(),
    )


def state_of(export_file: ExportFile) -> FileState:
    """The state of a loaded file, as CONDITIONS would say it."""
    if export_file.attention_rank == 0:
        return FileState.NEEDS_ATTENTION
    if export_file.superseded_by_id is not None:
        return FileState.SUPERSEDED
    if export_file.status == FileStatus.FAILED and export_file.acknowledged_at is not None:
        return FileState.ACKNOWLEDGED
    return FileState.DONE


def is_handled(state: FileState) -> bool:
    return state in HANDLED_STATES
