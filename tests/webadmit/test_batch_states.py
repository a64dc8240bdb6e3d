"""Batch state parsing: WebAdMIT's lower snake case, any other spelling of a known state, and never a crash on
something new (kept raw by the caller, as export files' statuses are)."""

from __future__ import annotations

import pytest

from webadmit_dash.webadmit import BATCH_DOWNLOADABLE, BATCH_OUTCOMES, BatchState, FileStatus, parse_batch_state

# The SPEC's list, in its order.
DOCUMENTED = ["initializing", "queued", "in_progress", "available", "success_with_errors", "empty_list", "failed"]


@pytest.mark.parametrize("raw", DOCUMENTED)
def test_every_documented_state_reads_as_itself(raw: str) -> None:
    assert parse_batch_state(raw).value == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Success With Errors", BatchState.SUCCESS_WITH_ERRORS),
        ("IN PROGRESS", BatchState.IN_PROGRESS),
        (" in-progress ", BatchState.IN_PROGRESS),
        ("Empty List", BatchState.EMPTY_LIST),
    ],
)
def test_other_spellings_of_a_known_state_are_read(raw: str, expected: BatchState) -> None:
    assert parse_batch_state(raw) is expected


@pytest.mark.parametrize("raw", ["expired", "archived", "", "   ", "unknown", "available!", None, 3])
def test_anything_else_is_unknown_and_never_raises(raw: object) -> None:
    assert parse_batch_state(raw) is BatchState.UNKNOWN  # type: ignore[arg-type]


def test_unknown_is_neither_finished_nor_downloadable() -> None:
    assert not BatchState.UNKNOWN.is_finished
    assert not BatchState.UNKNOWN.is_downloadable


def test_failed_and_empty_list_are_finished_so_polling_stops_on_them() -> None:
    assert {state for state in BatchState if state.is_finished} == BATCH_OUTCOMES
    assert BatchState.FAILED.is_finished and BatchState.EMPTY_LIST.is_finished
    assert {state for state in BatchState if state.is_downloadable} == BATCH_DOWNLOADABLE
    assert {BatchState.AVAILABLE, BatchState.SUCCESS_WITH_ERRORS} == BATCH_DOWNLOADABLE


def test_a_batch_state_is_a_type_of_its_own_with_the_specs_words() -> None:
    # The same words as FileStatus (and equal to them as text), but not one: a type checker keeps them apart.
    assert not isinstance(BatchState.AVAILABLE, FileStatus)
    assert [state.value for state in BatchState if state is not BatchState.UNKNOWN] == DOCUMENTED
