"""Delivering collected files: from the archive to a folder or an SFTP server, once each, with the faults the issue
names: a server down then up, credentials refused, a changed host key, a folder not writable, a checksum mismatch,
a tampered archive copy, and Deliver again. Real transports: folders on disk and an SFTP server over TCP."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from tests.collection.conftest import FILE_SIZE, Collection, ready_files
from tests.support.sftp_server import SftpServer
from webadmit_dash.collection import delivering
from webadmit_dash.collection.models import CollectedFile, DeliveryRule, Destination, FileDelivery
from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.simulator import expected_sha256

pytestmark = pytest.mark.django_db


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    folder = tmp_path / "outbox"
    folder.mkdir()
    return folder


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[SftpServer]:
    root = tmp_path / "sftp-root"
    (root / "incoming").mkdir(parents=True)
    with SftpServer(root) as server:
        yield server


def _folder(path: Path, name: str = "Outbox") -> Destination:
    return Destination.objects.create(name=name, kind=Destination.Kind.FOLDER, path=str(path))


def _sftp(server: SftpServer, *, password: str | None = None) -> Destination:
    return server.destination(password=password)


def _deliver_first_file(refreshed: UserIdentity, destination: Destination) -> ExportFile:
    target = ready_files(refreshed)[0]
    DeliveryRule.objects.create(destination=destination, export=target.export)
    return target


def _delivery(target: ExportFile) -> FileDelivery:
    return FileDelivery.objects.get(collected__export_file=target)


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_a_collected_file_is_delivered_to_a_folder_once_with_its_trail(
    refreshed: UserIdentity, collection: Collection, outbox: Path
) -> None:
    target = _deliver_first_file(refreshed, _folder(outbox))

    collection.step()
    collection.step()
    collection.step()

    delivery = _delivery(target)
    assert delivery.state == FileDelivery.State.DELIVERED and delivery.attempts == 1
    assert _files(outbox) == [delivery.file_name]
    data = (outbox / delivery.file_name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == expected_sha256(target.webadmit_id, FILE_SIZE, target.export.mime_type)
    assert delivery.remote_name.endswith(delivery.file_name) and delivery.checksum_verified
    assert delivery.delivered_at is not None
    assert len(collection.delivered) == 1


def test_an_sftp_server_down_then_up_gets_the_file_once(
    refreshed: UserIdentity, collection: Collection, sftp: SftpServer
) -> None:
    target = _deliver_first_file(refreshed, _sftp(sftp))
    sftp.stop()

    collection.step()
    delivery = _delivery(target)
    assert delivery.state == FileDelivery.State.PENDING and delivery.attempts == 1
    assert (delivery.last_error and "Slate SFTP" in delivery.last_error) or "127.0.0.1" in delivery.last_error

    sftp.start()
    collection.later(31)
    collection.step()
    delivery.refresh_from_db()
    assert delivery.state == FileDelivery.State.DELIVERED and delivery.attempts == 2
    assert _files(sftp.root / "incoming") == [delivery.file_name]


def test_refused_credentials_fail_at_once_with_the_reason_and_no_retries(
    refreshed: UserIdentity, collection: Collection, sftp: SftpServer
) -> None:
    target = _deliver_first_file(refreshed, _sftp(sftp, password="wrong password"))

    collection.step()
    collection.later(7200)
    collection.step()

    delivery = _delivery(target)
    assert delivery.state == FileDelivery.State.FAILED and delivery.attempts == 1
    assert "refused" in delivery.last_error.lower()
    assert "wrong password" not in delivery.last_error
    target.refresh_from_db()
    assert target.delivery_failed_at is not None and target.needs_attention
    assert ExportFile.objects.get(pk=target.pk).attention_rank == 0


def test_a_changed_host_key_is_refused_and_said(
    refreshed: UserIdentity, collection: Collection, sftp: SftpServer
) -> None:
    target = _deliver_first_file(refreshed, _sftp(sftp))
    sftp.stop()
    sftp.start(new_host_key=True)

    collection.step()

    delivery = _delivery(target)
    assert delivery.state == FileDelivery.State.FAILED
    assert "host key" in delivery.last_error and "changed" in delivery.last_error
    assert _files(sftp.root / "incoming") == []


def test_a_folder_that_cannot_be_written_fails_with_the_reason(
    refreshed: UserIdentity, collection: Collection, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    target = _deliver_first_file(refreshed, _folder(not_a_folder / "outbox"))

    collection.step()

    delivery = _delivery(target)
    assert delivery.state == FileDelivery.State.FAILED
    assert "outbox" in delivery.last_error


def test_a_checksum_mismatch_after_upload_is_retried_and_then_delivered(
    refreshed: UserIdentity, collection: Collection, sftp: SftpServer
) -> None:
    target = _deliver_first_file(refreshed, _sftp(sftp))
    sftp.corrupt_next_uploads(1)

    collection.step()
    delivery = _delivery(target)
    assert delivery.state == FileDelivery.State.PENDING
    assert "SHA-256" in delivery.last_error or "checksum" in delivery.last_error.lower()
    assert _files(sftp.root / "incoming") == []  # nothing under the final name, no leftover announced

    collection.later(31)
    collection.step()
    delivery.refresh_from_db()
    assert delivery.state == FileDelivery.State.DELIVERED
    data = (sftp.root / "incoming" / delivery.file_name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == delivery.collected.sha256


def test_a_tampered_archive_copy_is_never_delivered(
    refreshed: UserIdentity, collection: Collection, outbox: Path, settings
) -> None:
    target = _deliver_first_file(refreshed, _folder(outbox))
    FileDelivery.objects.all().delete()
    collection.step()  # collected and delivered
    collected = CollectedFile.objects.get(export_file=target)
    stored = Path(settings.ARCHIVE_DIR) / collected.storage_name
    data = bytearray(stored.read_bytes())
    data[-20] ^= 0x01
    os.chmod(stored, 0o600)
    stored.write_bytes(bytes(data))
    (outbox / _delivery(target).file_name).unlink()

    again = delivering.deliver_again(collected, None)
    collection.step()

    again[0].refresh_from_db()
    assert again[0].state == FileDelivery.State.FAILED
    assert "integrity check" in again[0].last_error
    assert _files(outbox) == []


def test_deliver_again_replays_from_the_archive_and_finds_a_copy_still_there(
    refreshed: UserIdentity, collection: Collection, outbox: Path, sim
) -> None:
    target = _deliver_first_file(refreshed, _folder(outbox))
    collection.step()
    first = _delivery(target)
    assert first.state == FileDelivery.State.DELIVERED
    sim.fault("server_error", times=5)  # WebAdMIT down: the archive is all Deliver again needs

    [second] = delivering.deliver_again(first.collected, None)
    collection.step()
    second.refresh_from_db()
    assert (second.round, second.state) == (2, FileDelivery.State.DELIVERED)
    assert _files(outbox) == [first.file_name]  # the same bytes were there: not written twice

    (outbox / first.file_name).unlink()  # Slate picked it up and purged it
    [third] = delivering.deliver_again(first.collected, None)
    collection.step()
    third.refresh_from_db()
    assert third.state == FileDelivery.State.DELIVERED and _files(outbox) == [first.file_name]


def test_a_different_file_under_the_name_is_never_overwritten(
    refreshed: UserIdentity, collection: Collection, outbox: Path
) -> None:
    target = _deliver_first_file(refreshed, _folder(outbox))
    collection.step()  # collected; the delivery is owed and sent in the same step
    delivery = _delivery(target)
    (outbox / delivery.file_name).unlink()
    (outbox / delivery.file_name).write_bytes(b"someone else's file")

    [again] = delivering.deliver_again(delivery.collected, None)
    collection.step()
    again.refresh_from_db()
    assert again.state == FileDelivery.State.FAILED
    assert (outbox / delivery.file_name).read_bytes() == b"someone else's file"


def test_transient_failures_give_up_after_the_last_try_and_mark_the_file(
    refreshed: UserIdentity, collection: Collection, sftp: SftpServer, settings
) -> None:
    settings.DELIVERY_ATTEMPTS = 3
    target = _deliver_first_file(refreshed, _sftp(sftp))
    sftp.stop()
    waits = []
    for _ in range(3):
        collection.step()
        delivery = _delivery(target)
        waits.append((delivery.next_attempt_at - timezone.now()).total_seconds())  # the pipeline's clock is real
        collection.later(3600)
    assert delivery.state == FileDelivery.State.FAILED and delivery.attempts == 3
    assert "gave up after 3 tries" in delivery.last_error
    assert 25 < waits[0] <= 30 and 55 < waits[1] <= 60  # 30 s, doubling
    target.refresh_from_db()
    assert target.delivery_failed_at is not None

    sftp.start()
    delivering.deliver_again(delivery.collected, None)
    collection.step()
    target.refresh_from_db()
    assert target.delivery_failed_at is None  # delivered since: no longer needs attention


def test_a_repeated_or_outdated_message_never_uploads_again(
    refreshed: UserIdentity, collection: Collection, outbox: Path
) -> None:
    target = _deliver_first_file(refreshed, _folder(outbox))
    collection.step()
    delivery = _delivery(target)
    assert delivery.state == FileDelivery.State.DELIVERED
    (outbox / delivery.file_name).unlink()  # Slate picked it up

    # Redis hands an unacknowledged message out again after its visibility timeout: its claim is long gone.
    stale = delivering.deliver(delivery.pk, delivery.delivered_at or timezone.now())
    assert stale.message.startswith("a repeated or outdated message")
    assert _files(outbox) == []
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.state == FileDelivery.State.DELIVERED


def test_a_transfer_that_kills_its_worker_every_time_reaches_its_last_try_and_fails(
    refreshed: UserIdentity, collection: Collection, outbox: Path, settings
) -> None:
    from webadmit_dash.collection import claims

    settings.DELIVERY_ATTEMPTS = 3
    target = _deliver_first_file(refreshed, _folder(outbox))
    FileDelivery.objects.all().delete()
    collection.step()  # collected, and its delivery delivered: make it owed again and "crash" three times
    delivery = _delivery(target)
    FileDelivery.objects.filter(pk=delivery.pk).update(state=FileDelivery.State.PENDING, attempts=0)
    for _ in range(3):
        token = claims.claim(FileDelivery, delivery.pk, FileDelivery.State.PENDING, collection.now)
        assert token is not None
        assert claims.Holder.start(FileDelivery, delivery.pk, token) is not None  # started... and the worker died
        FileDelivery.objects.filter(pk=delivery.pk).update(claimed_until=None)  # its claim ran out

    collection.step()

    delivery.refresh_from_db()
    assert delivery.state == FileDelivery.State.FAILED
    assert "never finished" in delivery.last_error
