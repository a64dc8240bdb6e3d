"""What the Recent Files page shows of its date filter (web/date_range.py) and of what is new since the user last
looked (web/visits.py): the menu's choices, the words of the range in force, and the "N new" line with its link."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from webadmit_dash.shared.templatetags.display import describe_clock
from webadmit_dash.web.date_range import CUSTOM, PRESETS
from webadmit_dash.web.listing import Scope

# "N new since you last looked" counts this many at most ("500+"): a count past a page or two means "many", and a
# months-old last visit must not make every page load count the whole list.
NEW_COUNT_CAP = 500


def dates_context(scope: Scope, new_since: datetime | None, now: datetime) -> dict[str, Any]:
    filters = scope.filters
    seen = filters.seen
    when = seen.when or ""
    new_count = 0
    if new_since is not None and seen.after is None:
        # One COUNT over what the page lists, bounded by NEW_COUNT_CAP; none on a first visit or once filtered to it.
        new_count = scope.listed.filter(first_seen_at__gt=new_since)[: NEW_COUNT_CAP + 1].count()
    new_filters = replace(filters, seen=replace(seen, after=new_since)) if new_since else None
    all_dates = replace(filters, seen=replace(seen, after=None))
    return {
        "when_choices": [
            # Each says what is dated: the filters' labels are read by screen readers only.
            ("", "First seen: any date", not when),
            *((value, f"First seen: {label.lower()}", value == when) for value, label in PRESETS.items()),
            (CUSTOM, "First seen: choose dates…", when == CUSTOM),
        ],
        "seen": seen,
        "date_problems": seen.problems,
        # "visit_": not the poll's new_count (files listed since the page was loaded).
        "visit_new_count": new_count,
        "visit_new_words": f"{NEW_COUNT_CAP}+" if new_count > NEW_COUNT_CAP else str(new_count),
        "visit_since_words": describe_clock(new_since, now) if new_since else "",
        "seen_after_words": describe_clock(seen.after, now) if seen.after else "",
        "visit_new_query": new_filters.querystring() if new_filters else "",
        "all_dates_query": all_dates.querystring(),
    }
