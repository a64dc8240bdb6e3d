"""Status parsing: both spellings, any case and separator, and never a crash on something new."""

from __future__ import annotations

import pytest

from webadmit_dash.webadmit import DOWNLOADABLE, OUTCOMES, UNFINISHED, FileStatus, parse_status


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("In Progress", FileStatus.IN_PROGRESS),
        ("in_progress", FileStatus.IN_PROGRESS),
        ("IN PROGRESS", FileStatus.IN_PROGRESS),
        (" in-progress ", FileStatus.IN_PROGRESS),
        ("Initializing", FileStatus.INITIALIZING),
        ("queued", FileStatus.QUEUED),
        ("Available", FileStatus.AVAILABLE),
        ("Success With Errors", FileStatus.SUCCESS_WITH_ERRORS),
        ("success_with_errors", FileStatus.SUCCESS_WITH_ERRORS),
        ("Empty List", FileStatus.EMPTY_LIST),
        ("empty_list", FileStatus.EMPTY_LIST),
        ("FAILED", FileStatus.FAILED),
        ("success__with  errors", FileStatus.SUCCESS_WITH_ERRORS),
    ],
)
def test_it_reads_every_spelling_of_a_known_status(raw: str, expected: FileStatus) -> None:
    assert parse_status(raw) is expected


@pytest.mark.parametrize("raw", ["Archived", "", "   ", "unknown", "Available!", "in progress please", None, 3])
def test_anything_else_is_unknown_and_never_raises(raw: object) -> None:
    assert parse_status(raw) is FileStatus.UNKNOWN  # type: ignore[arg-type]


def test_labels_are_the_title_case_wire_text() -> None:
    assert [status.label for status in FileStatus] == [
        "Initializing",
        "Queued",
        "In Progress",
        "Available",
        "Success With Errors",
        "Empty List",
        "Failed",
        "Unknown",
    ]


def test_every_outcome_is_finished_so_polling_stops_on_failed_and_empty_list() -> None:
    assert {status for status in FileStatus if status.is_finished} == OUTCOMES
    assert FileStatus.FAILED.is_finished
    assert FileStatus.EMPTY_LIST.is_finished


def test_unknown_is_treated_as_unfinished() -> None:
    assert not FileStatus.UNKNOWN.is_finished
    assert not FileStatus.UNKNOWN.is_downloadable


def test_only_available_and_success_with_errors_are_downloadable() -> None:
    assert {status for status in FileStatus if status.is_downloadable} == DOWNLOADABLE
    assert frozenset({FileStatus.AVAILABLE, FileStatus.SUCCESS_WITH_ERRORS}) == DOWNLOADABLE


def test_the_groups_partition_the_known_statuses() -> None:
    assert set(FileStatus) - {FileStatus.UNKNOWN} == UNFINISHED | OUTCOMES
    assert not UNFINISHED & OUTCOMES
