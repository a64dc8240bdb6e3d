"""What Recent Files shows that time alone changes, not a change of data, as one short signature.

An open page asks every few seconds whether anything changed; the version (core.access.visible_version) answers for
the data. Relative times ("3 min ago", "for 12 min", "Stuck for 42 min") age in the browser from their `<time
datetime>` (static/js/app.js), so the minute turning changes nothing the server has to render. What is left are a
few facts that flip with time while no row changes: an identity whose refreshes became late or its files stale
(web/freshness.py), the worker no longer checking in, a running file turning stuck (core/stuck.py), and a file the
watchdog now misses (schedules/state.py). They are read here once every SIGNATURE_SECONDS per process, for every
identity at once, and hashed: a page carries the signature it was rendered with, and its poll answers 204 while
both the version and the signature are unchanged. Every open page re-renders when one of these flips, which is
when each of them has something new to say; never because the clock's minute turned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from django.core.cache import cache

from webadmit_dash.core import stuck
from webadmit_dash.core.models import EngineHeartbeat, ExportFile, UserIdentity
from webadmit_dash.schedules.models import Missing
from webadmit_dash.web import common, freshness
from webadmit_dash.webadmit.statuses import UNFINISHED

# How stale a signature may be: a flip shows on open pages within this and one poll. Each process reads the facts
# once per period (a few queries over every identity), whatever the number of tabs.
SIGNATURE_SECONDS = 10
_CACHE_KEY = "recent-files:time-signature:v1"


def current(now: datetime) -> str:
    """The signature as of at most SIGNATURE_SECONDS ago."""
    signature: str | None = cache.get(_CACHE_KEY)
    if signature is None:
        signature = compute(now)
        cache.set(_CACHE_KEY, signature, SIGNATURE_SECONDS)
    return signature


def compute(now: datetime) -> str:
    rows = common.identity_rows(UserIdentity.objects.filter(enabled=True).order_by("pk"))
    facts = (
        freshness.worker_state(EngineHeartbeat.last_beat(), now),
        _identities(rows, now),
        sorted(_stuck_files(now, {row.pk: row.change_seq for row in rows})),
        sorted(Missing.objects.filter(arrived_at__isnull=True).values_list("pk", flat=True)),
    )
    return hashlib.blake2s(repr(facts).encode(), digest_size=6).hexdigest()


def _identities(rows: list[common.IdentityRow], now: datetime) -> list[tuple[int, str, bool]]:
    """Each identity's state in the freshness strip and whether its files are shown "as of" a time."""
    sources, stale = freshness.survey(rows, now, None)
    return [(source.identity.pk, source.state, source.identity.pk in stale) for source in sources]


def _stuck_files(now: datetime, versions: Mapping[int, int]) -> set[int]:
    """The running files past their export's stuck threshold (none superseded: a later run ended well); thresholds
    kept by the identities' `versions`, as the pages keep them."""
    # Read as plain rows (there may be thousands running on a busy morning; model instances cost ten times more),
    # past stuck.FLOOR, unfinished and not gone, as stuck.may_be_stuck asks. The superseded are set aside here: asked
    # as `superseded_by IS NULL`, SQLite (no statistics) walked the superseded_by index, which holds every file not
    # superseded, instead of the few running ones by status.
    running = [
        (pk, (identity_id, kind, export_id), first_seen_at)
        for pk, identity_id, kind, export_id, first_seen_at, superseded_by in ExportFile.objects.filter(
            status__in=[status.value for status in UNFINISHED],
            gone_at__isnull=True,
            first_seen_at__lt=now - stuck.FLOOR,
        ).values_list("pk", "identity_id", "kind", "export_webadmit_id", "first_seen_at", "superseded_by_id")
        if superseded_by is None
    ]
    if not running:
        return set()
    thresholds = stuck.cached_thresholds({key for _, key, _ in running}, versions)
    return {pk for pk, key, first_seen_at in running if now - first_seen_at > thresholds[key]}
