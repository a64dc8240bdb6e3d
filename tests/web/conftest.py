"""The dashboard's test world: files in the shared identities, and a simulated WebAdMIT for downloads and runs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from webadmit_dash.core.models import ChangeCounter, Credential, Export, ExportFile, UserIdentity
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.webadmit.statuses import FileStatus

_file_ids = itertools.count(300_001)


def make_export(identity: UserIdentity, webadmit_id: int, name: str = "Nightly Banner Export") -> Export:
    export, _ = Export.objects.get_or_create(
        identity=identity,
        webadmit_id=webadmit_id,
        defaults={"name": name, "format": "Comma-Separated Values", "mime_type": "text/csv;charset=iso-8859-1"},
    )
    return export


def make_file(
    identity: UserIdentity,
    status: FileStatus | str = FileStatus.AVAILABLE,
    *,
    webadmit_id: int | None = None,
    export: Export | None = None,
    first_seen_at: datetime | None = None,
    gone: bool = False,
) -> ExportFile:
    """A file as the refresh engine would have stored it, stamped with a new change sequence."""
    status = FileStatus(status)
    export = export or make_export(identity, 29_897)
    seen = first_seen_at or timezone.now() - timedelta(minutes=5)
    seq = ChangeCounter.next_value()
    export_file = ExportFile.objects.create(
        identity=identity,
        webadmit_id=webadmit_id or next(_file_ids),
        export_webadmit_id=export.webadmit_id,
        export=export,
        href=f"/api/v1/exports/{export.webadmit_id}/export_files/0",
        status=status,
        raw_status="Archived" if status is FileStatus.UNKNOWN else status.label,
        first_seen_at=seen,
        status_changed_at=seen,
        gone_at=timezone.now() if gone else None,
        change_seq=seq,
    )
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=seq)
    identity.change_seq = seq
    return ExportFile.objects.get(pk=export_file.pk)  # reloaded for the generated attention_rank


def change_status(export_file: ExportFile, status: FileStatus | str) -> ExportFile:
    """What the engine does when a listing shows a new status: the file and its identity get a new sequence."""
    seq = ChangeCounter.next_value()
    status = FileStatus(status)
    ExportFile.objects.filter(pk=export_file.pk).update(
        status=status, raw_status=status.label, status_changed_at=timezone.now(), change_seq=seq
    )
    UserIdentity.objects.filter(pk=export_file.identity_id).update(change_seq=seq)
    return ExportFile.objects.get(pk=export_file.pk)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Each test starts with no cached counts: rolled-back tests reuse identity ids and change sequences."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world() -> SimulatedWorld:
    # Statuses move only when a test forces them.
    return SimulatedWorld(seed=5, identities=2, files_per_identity=6, pace=86_400, new_run_every=None)


@pytest.fixture
def sim_identity(sim_credential: Credential, world: SimulatedWorld) -> UserIdentity:
    upstream = world.identities()[0]
    return UserIdentity.objects.create(
        credential=sim_credential,
        webadmit_id=upstream.id,
        type="Admissions User",
        association=upstream.association or "",
        organization=upstream.organization or "",
        cycle=upstream.cycle or "",
    )
