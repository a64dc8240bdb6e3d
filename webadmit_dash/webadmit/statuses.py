"""Export file statuses as WebAdMIT spells them, and one tolerant parser for both spellings.

WebAdMIT sends Title Case ("In Progress") today, older documentation shows snake case ("in_progress"), and the
API may grow statuses without notice. Everything downstream works with `FileStatus`; the raw text is kept
beside it.
"""

from __future__ import annotations

import enum
import re


class FileStatus(enum.StrEnum):
    """One export file's place in its lifecycle: Initializing -> Queued -> In Progress -> one outcome."""

    INITIALIZING = "initializing"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    AVAILABLE = "available"
    SUCCESS_WITH_ERRORS = "success_with_errors"
    EMPTY_LIST = "empty_list"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        """The Title Case text WebAdMIT shows, e.g. "Success With Errors"."""
        return self.value.replace("_", " ").title()

    @property
    def is_finished(self) -> bool:
        """True once the run reached an outcome and will not change again.

        UNKNOWN counts as *not* finished: a status we have never seen is most likely a new intermediate step,
        and treating it as final would stop polling a file that may still become Available. Polling it costs a
        call; wrongly giving up on it costs the user their file.
        """
        return self in OUTCOMES

    @property
    def is_downloadable(self) -> bool:
        """True when WebAdMIT holds a file to download (Available, Success With Errors)."""
        return self in DOWNLOADABLE


# WebAdMIT's documented steps before an outcome: a run that stays in one of them too long is stuck.
UNFINISHED: frozenset[FileStatus] = frozenset({FileStatus.INITIALIZING, FileStatus.QUEUED, FileStatus.IN_PROGRESS})
OUTCOMES: frozenset[FileStatus] = frozenset(
    {FileStatus.AVAILABLE, FileStatus.SUCCESS_WITH_ERRORS, FileStatus.EMPTY_LIST, FileStatus.FAILED}
)
DOWNLOADABLE: frozenset[FileStatus] = frozenset({FileStatus.AVAILABLE, FileStatus.SUCCESS_WITH_ERRORS})
# The one meaning of "running" everywhere (the fast cadence, the pages' counts and title, their poll pace): not
# finished, so the unfinished steps and any status we do not know (see is_finished). In the enum's order, so that
# database expressions built from it stay the same from one run to the next.
RUNNING: tuple[FileStatus, ...] = tuple(status for status in FileStatus if status not in OUTCOMES)

_SEPARATORS = re.compile(r"[\s_\-]+")
_BY_VALUE = {status.value: status for status in FileStatus if status is not FileStatus.UNKNOWN}
# The two spellings WebAdMIT actually sends ("In Progress", "in_progress"), looked up before any normalising:
# a listing carries one status per file, hundreds per call.
_EXACT = {**_BY_VALUE, **{status.label: status for status in _BY_VALUE.values()}}


def parse_status(raw: str) -> FileStatus:
    """Map any spelling of a known status to `FileStatus`; anything else is UNKNOWN. Never raises."""
    if type(raw) is str and (status := _EXACT.get(raw)) is not None:
        return status
    if not isinstance(raw, str):
        return FileStatus.UNKNOWN
    return _BY_VALUE.get(spelling_key(raw), FileStatus.UNKNOWN)


def spelling_key(raw: str) -> str:
    """ "In Progress", "in-progress", " IN_PROGRESS " -> "in_progress": any case and separator, as WebAdMIT has
    spelt its statuses (and PDF Manager its batch states, webadmit/batch_states.py)."""
    return _SEPARATORS.sub("_", raw.strip().lower()).strip("_")
