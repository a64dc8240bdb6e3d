"""Collection's records for page and API tests, made as the collector and the deliverer make them: real encrypted
bytes in the run's archive folder (collection.archive), rows written with the models."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.files.storage import storages
from django.utils import timezone

from webadmit_dash.collection import archive, claims, delivering
from webadmit_dash.collection.models import CollectedFile, Destination, FileDelivery
from webadmit_dash.core.models import ExportFile

EXPORT_BYTES = "".join(
    f'"AP-{n:06d}","Jane Doe {n}","jane.doe{n}@example.edu","Zoë, Ünïcode",1999-04-01\r\n' for n in range(3401)
).encode()


def collect(export_file: ExportFile, data: bytes = EXPORT_BYTES, content_type: str = "text/csv") -> CollectedFile:
    """The file collected into the archive: its bytes encrypted there, the record with its proof."""
    kept = archive.keep([data[i : i + 70_000] for i in range(0, len(data), 70_000)])
    return CollectedFile.objects.create(
        export_file=export_file,
        identity_id=export_file.identity_id,
        file_webadmit_id=export_file.webadmit_id,
        export_webadmit_id=export_file.export_webadmit_id,
        export_name=export_file.export_name,
        finished_at=export_file.status_changed_at,
        state=CollectedFile.State.COLLECTED,
        storage_name=kept.storage_name,
        wrapped_key=kept.wrapped_key,
        size=kept.size,
        sha256=kept.sha256,
        line_count=data.count(b"\n"),
        content_type=content_type,
        collected_at=timezone.now(),
    )


def archived_path(collected: CollectedFile) -> Path:
    return Path(storages["archive"].path(collected.storage_name))


def tamper(collected: CollectedFile, offset: int = 100) -> None:
    """Flips one bit of the stored (encrypted) file, as a changed disk or bucket would."""
    path = archived_path(collected)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def destination(name: str = "Slate SFTP", tmp: Path | None = None) -> Destination:
    return Destination.objects.create(name=name, kind=Destination.Kind.FOLDER, path=str(tmp or "/srv/outbox"))


def delivery(
    collected: CollectedFile, to: Destination, state: str, *, round: int = 1, **fields: object
) -> FileDelivery:
    """A delivery as the deliverer leaves it in `state` (delivered, failed, or pending after some tries)."""
    now = timezone.now()
    values: dict[str, object] = {"file_name": f"Export_{collected.file_webadmit_id}.csv", "attempts": 1}
    if state == FileDelivery.State.DELIVERED:
        values.update(delivered_at=now, remote_name=f"/incoming/Export_{collected.file_webadmit_id}.csv")
        values.update(checksum_verified=True)
    elif state == FileDelivery.State.FAILED:
        values.update(failed_at=now, last_error="Authentication refused by sftp.slate.example: check the password.")
    else:
        values.update(attempts=2, next_attempt_at=now + timedelta(minutes=1), last_error="Connection refused")
    values.update(fields)
    return FileDelivery.objects.create(collected=collected, destination=to, round=round, state=state, **values)


def deliver_now(pending: FileDelivery) -> FileDelivery:
    """Runs a pending delivery as the worker does (claimed, then collection.delivering.deliver), and returns it."""
    token = claims.claim(FileDelivery, pending.pk, FileDelivery.State.PENDING, timezone.now())
    assert token is not None
    delivering.deliver(pending.pk, token)
    pending.refresh_from_db()
    return pending


def refused_delivery(collected: CollectedFile, tmp: Path, name: str = "Slate SFTP") -> FileDelivery:
    """A delivery a destination refused for good (a folder that is not there), delivered by the real deliverer: the
    file is then marked as needing attention (ExportFile.delivery_failed_at)."""
    missing = destination(name, tmp / "no-such-folder")
    return deliver_now(FileDelivery.objects.create(collected=collected, destination=missing, file_name="Export.csv"))
