"""Keeping collected files no longer than configured: ARCHIVE_RETENTION_DAYS after collection, unless on hold; and
no stored file that no record names (a worker killed mid-download leaves one: the archive cleans up after an error,
not after SIGKILL)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings

from webadmit_dash.collection import archive
from webadmit_dash.collection.models import CollectedFile

logger = logging.getLogger(__name__)


def prune(now: datetime) -> int:
    """Deletes each archived copy past its retention (the record and its trail stay, marked pruned, so the audit
    can still say what was kept and where it went); returns how many."""
    cutoff = now - timedelta(days=settings.ARCHIVE_RETENTION_DAYS)
    expired = CollectedFile.objects.filter(
        state=CollectedFile.State.COLLECTED, hold=False, collected_at__lt=cutoff
    ).values_list("pk", "storage_name")
    pruned = 0
    for pk, storage_name in expired.iterator():
        archive.delete(storage_name)  # first: a crash here leaves a record that is pruned again, never a lost file
        pruned += CollectedFile.objects.filter(pk=pk, hold=False, state=CollectedFile.State.COLLECTED).update(
            state=CollectedFile.State.PRUNED, storage_name="", wrapped_key="", pruned_at=now
        )
    if pruned:
        logger.info("Pruned %s archived file(s) past %s days", pruned, settings.ARCHIVE_RETENTION_DAYS)
    return pruned


# A file this old that no record names is not one being written now.
ORPHAN_AGE = timedelta(days=1)


def sweep_orphans(now: datetime) -> int:
    """Deletes stored files older than ORPHAN_AGE that no CollectedFile names; returns how many."""
    swept = 0
    for storage_name in archive.names_older_than(now - ORPHAN_AGE):
        if not CollectedFile.objects.filter(storage_name=storage_name).exists():
            archive.delete(storage_name)
            swept += 1
    if swept:
        logger.warning("Deleted %s archived file(s) no record named (left by a worker that was killed)", swept)
    return swept
