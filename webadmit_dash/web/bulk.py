"""Bulk work on Recent Files: which files a bulk button acts on, and what Acknowledge and Run again do to each.

The browser says what was selected, either row ids or "all matching the filters" with the page's filters. Neither is
trusted: ids are kept only when they are files of identities the user may see (`core.access`), and "all matching"
is the page's own scope (`listing.scope_for`) read again from the filters, so a guessed id or a doctored filter
reaches nothing the page would not list. Every file is then acted on exactly as its row's own button would.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.http import QueryDict

from webadmit_dash.core import access
from webadmit_dash.core.models import Credential, ExportFile, Kind
from webadmit_dash.engine import on_demand
from webadmit_dash.web import listing, pagination, params
from webadmit_dash.webadmit.statuses import FileStatus

# The most files one bulk action takes; "all matching" beyond it asks for narrower filters rather than acting on
# some. A zip holds fewer: each file not archived costs a WebAdMIT call and a few seconds of the person's wait.
MAX_FILES = 500
MAX_FILES_PER_ZIP = 100


@dataclass
class Selection:
    """The files a bulk button acts on, each one the user may see, in the page's order."""

    files: list[ExportFile]
    unseen: int = 0  # ids sent that are no file the user may see (deleted since, or never theirs)
    matching: int = 0  # with "all matching": how many the filters list (more than the cap: nothing is taken)

    @classmethod
    def from_post(cls, user: User, post: QueryDict, *, cap: int = MAX_FILES) -> Selection:
        if params.flag(post, "all"):
            scope = listing.scope_for(user, QueryDict(params.value(post, "filters") or ""))
            matching = scope.listed.count()
            if matching > cap:
                return cls([], matching=matching)
            listed = scope.listed.select_related("identity__credential", "export").order_by(*pagination.ORDER)
            return cls(list(listed), matching=matching)
        asked = _ids(post.getlist("file")[: cap + 1])
        if len(asked) > cap:
            return cls([], matching=len(asked))
        files = (
            ExportFile.objects.filter(pk__in=asked, identity__in=access.visible_identities(user))
            .select_related("identity__credential", "export")
            .order_by(*pagination.ORDER)
        )
        found = list(files)
        return cls(found, unseen=len(asked) - len(found))

    def too_many(self, cap: int) -> bool:
        return not self.files and self.matching > cap


def _ids(raw: list[str]) -> set[int]:
    """Row ids as the checkboxes send them; anything else (not a whole number in a key's range) is dropped."""
    return {pk for value in raw if (pk := params.whole_number(value, None, minimum=1)) is not None}


def unseen_words(count: int) -> str:
    if not count:
        return ""
    files = "file was" if count == 1 else "files were"
    return f" {count} selected {files} left out: no longer listed, or not shared with you."


def too_many_words(count: int, cap: int, what: str) -> str:
    return f"{count:,} files are selected; {what} takes at most {cap:,} at once. Narrow the filters and try again."


# --- Acknowledge ------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a bulk action did: how many files it acted on, and the others by the reason they were skipped."""

    done: list[ExportFile] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def skipped_words(self) -> str:
        if not self.skipped:
            return ""
        parts = [f"{count} {reason}" for reason, count in self.skipped.most_common()]
        total = sum(self.skipped.values())
        return f" {total} skipped: " + "; ".join(parts) + "."


NOT_FAILED = "had not failed"
ALREADY_ACKNOWLEDGED = "already acknowledged"
ALREADY_RERUN = "already re-run (a later run ended well)"


def acknowledge(files: list[ExportFile], user: User) -> Outcome:
    """Acknowledges each failure not yet handled, as its row's Acknowledge does (who and when kept)."""
    outcome = Outcome()
    for export_file in files:
        if export_file.status != FileStatus.FAILED:
            outcome.skipped[NOT_FAILED] += 1
        elif export_file.superseded_by_id is not None:
            outcome.skipped[ALREADY_RERUN] += 1
        elif export_file.acknowledged_at is not None:
            outcome.skipped[ALREADY_ACKNOWLEDGED] += 1
        elif on_demand.acknowledge_failure(export_file, user):
            outcome.done.append(export_file)
        else:  # it stopped being failed since it was read
            outcome.skipped[NOT_FAILED] += 1
    return outcome


# --- Run again --------------------------------------------------------------------------------------------------------

STILL_RUNNING = "still running (WebAdMIT would keep that run)"
NOT_AN_EXPORT = "PDF Manager batches (each row's own Run again starts a new batch)"
SAME_EXPORT = "of an export already in this batch (one run each)"


def runs_to_start(files: list[ExportFile]) -> Outcome:
    """The files whose export Run again would start, one per export (the newest selected run of it), and the
    others with the reason their row offers no Run again, or would start the same run twice."""
    outcome = Outcome()
    seen: set[tuple[int, int]] = set()
    for export_file in sorted(files, key=lambda each: -each.webadmit_id):
        export = (export_file.identity_id, export_file.export_webadmit_id)
        if export_file.kind != Kind.EXPORT:
            outcome.skipped[NOT_AN_EXPORT] += 1
        elif not export_file.status_enum.is_finished:
            outcome.skipped[STILL_RUNNING] += 1
        elif export_file.superseded_by_id is not None:
            outcome.skipped[ALREADY_RERUN] += 1
        elif export in seen:
            outcome.skipped[SAME_EXPORT] += 1
        else:
            seen.add(export)
            outcome.done.append(export_file)
    return outcome


def calls_by_credential(files: list[ExportFile]) -> Counter[Credential]:
    """How many WebAdMIT calls these files take per key: one each."""
    return Counter(export_file.identity.credential for export_file in files)
