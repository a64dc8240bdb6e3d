"""When a run is stuck: how long an export's runs usually take, from the status history already stored.

A run (a file still Initializing, Queued or In Progress) is stuck once it has been running longer than its export's
threshold: three times the median time that export's earlier runs took from first sight to an outcome, never less
than thirty minutes, and the site-wide fallback (WEBADMIT_STUCK_AFTER_MINUTES) while the export has no finished
run in the history. The Recent Files row ("stuck for 42 min") and the notifications' stuck event both ask here,
so they always agree.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache

from webadmit_dash.core.models import Export, ExportFile, StatusChange
from webadmit_dash.webadmit.statuses import OUTCOMES, UNFINISHED, FileStatus

FACTOR = 3
FLOOR = timedelta(minutes=30)
# An export is named by its identity, its kind and WebAdMIT's export id: all three are on every file, named by E3 or
# not (a PDF Manager template's batches are measured as an export's runs, never with an export of the same id).
ExportKey = tuple[int, str, int]


def fallback() -> timedelta:
    return max(FLOOR, timedelta(minutes=settings.WEBADMIT_STUCK_AFTER_MINUTES))


def key_of(export_file: ExportFile) -> ExportKey:
    return export_file.identity_id, export_file.kind, export_file.export_webadmit_id


def key_of_export(export: Export) -> ExportKey:
    return export.identity_id, export.kind, export.webadmit_id


def may_be_stuck(export_file: ExportFile, now: datetime) -> bool:
    """Whether the file could be stuck at all (running past the floor); only those need a threshold, so a page of
    fresh or finished files costs no query."""
    return (
        export_file.gone_at is None
        and FileStatus(export_file.status) in UNFINISHED
        and now - export_file.first_seen_at > FLOOR
    )


@dataclass(frozen=True)
class Usual:
    """How long an export's runs usually take: the median of its finished runs' durations, and how many there were
    (none yet: `took` is None)."""

    took: timedelta | None
    runs: int


def thresholds(keys: Collection[ExportKey]) -> dict[ExportKey, timedelta]:
    """Each export's stuck threshold, in one query whatever the number of exports."""
    default = fallback()
    return {
        key: max(FLOOR, FACTOR * usual.took) if usual.took is not None else default
        for key, usual in usual_durations(keys).items()
    }


# Thresholds are kept by the identity's change sequence and never stale (a run that ends moves it on); the timeout
# only bounds how long the cache holds those of versions gone by.
CACHE_SECONDS = 600


def cached_thresholds(keys: Collection[ExportKey], versions: Mapping[int, int]) -> dict[ExportKey, timedelta]:
    """`thresholds`, kept in the cache under each identity's change sequence (`versions`, by identity pk): they
    change only when a run of the export ends, which moves the sequence on, so a page, a poll or the pages' time
    signature with nothing new costs no query here."""
    if not keys:
        return {}
    names = {key: f"dashboard:stuck-after:v1:{key[0]}:{key[1]}:{key[2]}:{versions.get(key[0], 0)}" for key in keys}
    cached = cache.get_many(list(names.values()))
    found = {key: cached[name] for key, name in names.items() if name in cached}
    missing = set(keys) - found.keys()
    if missing:
        fresh = thresholds(missing)
        cache.set_many({names[key]: fresh[key] for key in fresh}, CACHE_SECONDS)
        found.update(fresh)
    return found


def usual_durations(keys: Collection[ExportKey]) -> dict[ExportKey, Usual]:
    """Each export's usual duration, in one query whatever the number of exports: the stuck mark and the export's
    page ("usually takes 15 min") read the same figure.

    A run's duration is from its file's first sight to its first outcome; runs first seen already finished (those
    of an identity's first listing) took an unknown time and are left out.
    """
    wanted = set(keys)
    if not wanted:
        return {}
    finishes = (
        StatusChange.objects.filter(
            export_file__identity_id__in={identity_id for identity_id, _, _ in wanted},
            export_file__kind__in={kind for _, kind, _ in wanted},
            export_file__export_webadmit_id__in={export_id for _, _, export_id in wanted},
            new_status__in=[status.value for status in OUTCOMES],
        )
        .exclude(old_status="")
        .order_by()
        .values_list(
            "export_file__identity_id",
            "export_file__kind",
            "export_file__export_webadmit_id",
            "export_file_id",
            "changed_at",
            "export_file__first_seen_at",
        )
    )
    first_outcome: dict[int, tuple[ExportKey, timedelta]] = {}
    for identity_id, kind, export_id, file_id, changed_at, first_seen_at in finishes:
        key = (identity_id, kind, export_id)
        if key not in wanted:
            continue  # the IN lists select a superset: another identity's (or kind's) export with a shared id
        took = changed_at - first_seen_at
        if file_id not in first_outcome or took < first_outcome[file_id][1]:
            first_outcome[file_id] = (key, took)
    seconds: dict[ExportKey, list[float]] = defaultdict(list)
    for key, took in first_outcome.values():
        seconds[key].append(took.total_seconds())
    return {
        key: Usual(timedelta(seconds=statistics.median(seconds[key])) if seconds[key] else None, len(seconds[key]))
        for key in wanted
    }


def stuck_for(export_file: ExportFile, threshold: timedelta | None, now: datetime) -> timedelta | None:
    """How long a stuck file has been running; None when it is not stuck."""
    if threshold is None or not may_be_stuck(export_file, now):
        return None
    running = now - export_file.first_seen_at
    return running if running > threshold else None
