"""Kept no longer than configured: retention prunes archived copies unless on hold, the trail stays, orphans left by
a killed worker are swept; and rotating ENCRYPTION_KEYS re-wraps data keys without rewriting any file."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.utils import timezone

from tests.support.factories import make_file
from webadmit_dash.collection import archive, pruning
from webadmit_dash.collection.models import CollectedFile
from webadmit_dash.core.models import UserIdentity

pytestmark = pytest.mark.django_db

CONTENT = b"CAS ID,First Name\r\n1,Jos\xe9\r\n" * 1000


def _archived(identity: UserIdentity, *, days_ago: float, hold: bool = False) -> CollectedFile:
    export_file = make_file(identity)
    kept = archive.keep([CONTENT])
    return CollectedFile.objects.create(
        export_file=export_file,
        identity=identity,
        file_webadmit_id=export_file.webadmit_id,
        export_webadmit_id=export_file.export_webadmit_id,
        export_name=export_file.export_name,
        finished_at=export_file.status_changed_at,
        state=CollectedFile.State.COLLECTED,
        storage_name=kept.storage_name,
        wrapped_key=kept.wrapped_key,
        size=kept.size,
        sha256=kept.sha256,
        content_type="text/csv",
        collected_at=timezone.now() - timedelta(days=days_ago),
        hold=hold,
        hold_reason="Records request 2026-114" if hold else "",
    )


def test_copies_past_retention_are_pruned_unless_on_hold_and_their_record_stays(
    identity: UserIdentity, settings
) -> None:
    settings.ARCHIVE_RETENTION_DAYS = 30
    old = _archived(identity, days_ago=31)
    held = _archived(identity, days_ago=90, hold=True)
    recent = _archived(identity, days_ago=29)
    old_name = old.storage_name

    assert pruning.prune(timezone.now()) == 1

    old.refresh_from_db()
    assert old.state == CollectedFile.State.PRUNED and old.pruned_at is not None
    assert old.storage_name == "" and old.wrapped_key == "" and old.sha256  # the proof of what was kept stays
    assert not archive.exists(old_name)
    assert archive.exists(held.storage_name) and archive.exists(recent.storage_name)
    assert not old.in_archive


def test_a_stored_file_no_record_names_is_swept_once_it_is_a_day_old(identity: UserIdentity, settings) -> None:
    named = _archived(identity, days_ago=40, hold=True)
    orphan = archive.store([b"written by a worker killed before it recorded anything"])
    fresh_orphan = archive.store([b"being written right now"])
    day_old = time.time() - 2 * 86400
    for name in (orphan, named.storage_name):
        os.utime(Path(settings.ARCHIVE_DIR) / name, (day_old, day_old))

    assert pruning.sweep_orphans(timezone.now()) == 1

    assert not archive.exists(orphan)
    assert archive.exists(named.storage_name) and archive.exists(fresh_orphan)


def test_rotating_the_encryption_keys_rewraps_data_keys_and_leaves_the_files_alone(
    identity: UserIdentity, settings
) -> None:
    collected = _archived(identity, days_ago=1)
    stored = Path(settings.ARCHIVE_DIR) / collected.storage_name
    before = stored.read_bytes()
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, *settings.ENCRYPTION_KEYS]

    call_command("rotate_encryption_keys", stdout=open(os.devnull, "w"))  # noqa: SIM115

    settings.ENCRYPTION_KEYS = [new_key]  # the old key is gone: only the re-wrapped data key can open the file
    collected.refresh_from_db()
    assert stored.read_bytes() == before
    read = archive.read(collected.storage_name, collected.wrapped_key, size=len(CONTENT), sha256=collected.sha256)
    assert b"".join(read) == CONTENT
