"""PDF Manager batch states as WebAdMIT spells them, and one tolerant parser.

Batches say `state`, not `status`, in lower snake case (the SPEC, "PDF Manager": `initializing | queued |
in_progress | available | success_with_errors | empty_list | failed`), unlike export files' Title Case statuses. The
values are the same words as `FileStatus`'s but a type of their own, so a batch's state is never stored or compared
as a file's status by mistake. The parser reads any case and separator (Liaison changed export files' spelling once),
and a state it has never seen is UNKNOWN with its raw text kept beside it, as for export files.
"""

from __future__ import annotations

import enum

from webadmit_dash.webadmit.statuses import spelling_key


class BatchState(enum.StrEnum):
    """One PDF Manager batch's place in its lifecycle: initializing -> queued -> in_progress -> one outcome."""

    INITIALIZING = "initializing"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    AVAILABLE = "available"
    SUCCESS_WITH_ERRORS = "success_with_errors"
    EMPTY_LIST = "empty_list"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def is_finished(self) -> bool:
        """True once the batch reached an outcome. UNKNOWN is not finished, for the reason `FileStatus` gives: a
        state we have never seen is more likely a new step than a new ending."""
        return self in BATCH_OUTCOMES

    @property
    def is_downloadable(self) -> bool:
        """True when the batch has zips to download (its `download_hrefs`): available, success_with_errors."""
        return self in BATCH_DOWNLOADABLE


BATCH_OUTCOMES: frozenset[BatchState] = frozenset(
    {BatchState.AVAILABLE, BatchState.SUCCESS_WITH_ERRORS, BatchState.EMPTY_LIST, BatchState.FAILED}
)
BATCH_DOWNLOADABLE: frozenset[BatchState] = frozenset({BatchState.AVAILABLE, BatchState.SUCCESS_WITH_ERRORS})

_BY_VALUE = {state.value: state for state in BatchState if state is not BatchState.UNKNOWN}


def parse_batch_state(raw: str) -> BatchState:
    """Map any spelling of a known state to `BatchState`; anything else is UNKNOWN. Never raises."""
    if type(raw) is str and (state := _BY_VALUE.get(raw)) is not None:
        return state
    if not isinstance(raw, str):
        return BatchState.UNKNOWN
    return _BY_VALUE.get(spelling_key(raw), BatchState.UNKNOWN)
