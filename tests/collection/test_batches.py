"""PDF Manager batches collected and delivered like export files: each zip fetched through P6 (the simulator over
real HTTP) into the encrypted archive with its own proof, an index CSV made from the zips' directories, delivered
to a folder as `…_part1of2.zip`, `…_part2of2.zip` and `…_index.csv`, and P6's faults met as E5's are."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.collection.conftest import Collection
from tests.support.simulated import SimulatorControl
from webadmit_dash.collection import archive, zip_index
from webadmit_dash.collection.models import CollectedFile, CollectionRule, DeliveryRule, Destination, FileDelivery
from webadmit_dash.core.models import DownloadEvent, ExportFile, Kind, UserIdentity
from webadmit_dash.engine.models import CollectionCall
from webadmit_dash.engine.refresh import refresh_identity

pytestmark = pytest.mark.django_db
Piece = CollectedFile.Piece


@pytest.fixture
def batch(refreshed: UserIdentity, sim: SimulatorControl) -> ExportFile:
    """A new ready batch of the simulator's Transcripts template (two zips), stored by refreshes as the engine
    does, after the identity's older batches were seen (so a rule made now covers this one only)."""
    UserIdentity.objects.filter(pk=refreshed.pk).update(watch_pdf_batches=True)
    now = timezone.now()
    for step in range(6):
        refresh_identity(refreshed.pk, now=now + timedelta(seconds=15 * step))
    ExportFile.objects.filter(kind=Kind.PDF_BATCH).update(status_changed_at=now - timedelta(days=3))
    template = next(
        each for each in sim.world.pdf_manager.templates(refreshed.webadmit_id) if each.name == "Transcripts"
    )
    batch_id = sim.start_batch(refreshed.webadmit_id, template.id, outcome="available")
    sim.force_batch(batch_id, "available")
    for step in range(6, 16):
        refresh_identity(refreshed.pk, now=now + timedelta(seconds=15 * step))
        row = ExportFile.objects.get(identity=refreshed, kind=Kind.PDF_BATCH, webadmit_id=batch_id)
        if row.zips.exists():
            assert [each.parts for each in row.zips.all()] == [2, 2]
            return row
    raise AssertionError("the batch's zips were not read")


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    folder = tmp_path / "outbox"
    folder.mkdir()
    return folder


def _served(sim: SimulatorControl, batch: ExportFile) -> dict[int, bytes]:
    """Each zip's bytes as WebAdMIT serves them, by part."""
    return {each.part: sim.world.pdf_manager.zip_download(each.zip_webadmit_id).body() for each in batch.zips.all()}


def _zips(batch: ExportFile) -> list[CollectedFile]:
    return list(CollectedFile.objects.filter(export_file=batch, piece=Piece.ZIP).order_by("part"))


def _kept(collected: CollectedFile) -> bytes:
    return b"".join(
        archive.read(collected.storage_name, collected.wrapped_key, size=collected.size or 0, sha256=collected.sha256)
    )


def test_a_batch_is_collected_zip_by_zip_through_p6_with_the_proof_of_each(
    batch: ExportFile, collection: Collection, sim: SimulatorControl
) -> None:
    CollectionRule.objects.create(export=batch.export)
    p6_before = sim.calls().get("P6", 0)

    collection.step()
    collection.step()

    served = _served(sim, batch)
    pieces = list(CollectedFile.objects.filter(export_file=batch))
    assert [(each.piece, each.part, each.parts) for each in _zips(batch)] == [(Piece.ZIP, 1, 2), (Piece.ZIP, 2, 2)]
    assert len(pieces) == 2  # no index: no delivery rule asked for one
    for collected in _zips(batch):
        assert collected.state == CollectedFile.State.COLLECTED
        assert collected.size == len(served[collected.part])
        assert collected.sha256 == hashlib.sha256(served[collected.part]).hexdigest()
        assert collected.content_type.startswith("application/zip")
        assert collected.zip_webadmit_id == batch.zips.get(part=collected.part).zip_webadmit_id
        assert _kept(collected) == served[collected.part]
    assert sim.calls().get("P6", 0) - p6_before == 2  # one P6 per zip, once however many steps
    assert CollectionCall.objects.count() == 2  # counted in the key's collection share, as E5 is
    assert sim.calls().get("E5", 0) == 0


def test_zips_and_their_index_are_delivered_to_a_folder_named_by_part(
    batch: ExportFile, collection: Collection, sim: SimulatorControl, outbox: Path
) -> None:
    folder = Destination.objects.create(name="Outbox", kind=Destination.Kind.FOLDER, path=str(outbox))
    DeliveryRule.objects.create(destination=folder, export=batch.export, index_csv=True)

    collection.step()  # the zips; the index waits for them
    collection.later(31)
    collection.step()  # the index, and every delivery
    collection.step()

    deliveries = {each.collected.piece_label: each for each in FileDelivery.objects.select_related("collected")}
    assert set(deliveries) == {"Zip 1 of 2", "Zip 2 of 2", "Index"}
    assert all(each.state == FileDelivery.State.DELIVERED for each in deliveries.values())
    names = {label: each.file_name for label, each in deliveries.items()}
    assert names["Zip 1 of 2"].endswith(f"_{batch.webadmit_id}_part1of2.zip")
    assert names["Zip 2 of 2"].endswith(f"_{batch.webadmit_id}_part2of2.zip")
    assert names["Index"].endswith(f"_{batch.webadmit_id}_index.csv")
    assert sorted(path.name for path in outbox.iterdir()) == sorted(names.values())  # nothing else, no .part left
    served = _served(sim, batch)
    assert (outbox / names["Zip 1 of 2"]).read_bytes() == served[1]
    assert (outbox / names["Zip 2 of 2"]).read_bytes() == served[2]

    text = (outbox / names["Index"]).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    documents = sim.world.pdf_manager.documents(batch.webadmit_id)
    assert rows[0] == ["Zip part", "File name", "CAS ID"]
    expected = [[str(1 + index // 5), each.file_name, each.cas_id] for index, each in enumerate(documents)]
    assert rows[1:] == expected and len(expected) > 5  # both zips' documents, by the zip they are in


def test_a_rule_without_the_index_gets_the_zips_only(
    batch: ExportFile, collection: Collection, outbox: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with_index = Destination.objects.create(name="With index", kind=Destination.Kind.FOLDER, path=str(outbox))
    without = Destination.objects.create(name="Zips only", kind=Destination.Kind.FOLDER, path=str(other))
    DeliveryRule.objects.create(destination=with_index, export=batch.export, index_csv=True)
    DeliveryRule.objects.create(destination=without, export=batch.export)

    collection.step()
    collection.later(31)
    collection.step()
    collection.step()

    assert sorted(path.suffix for path in outbox.iterdir()) == [".csv", ".zip", ".zip"]
    assert sorted(path.suffix for path in other.iterdir()) == [".zip", ".zip"]


def test_an_expired_zip_link_is_asked_for_again_and_the_zip_collected_later(
    batch: ExportFile, collection: Collection, sim: SimulatorControl
) -> None:
    CollectionRule.objects.create(export=batch.export)
    ttl = sim.server.app.url_ttl
    sim.server.app.url_ttl = -60  # every link P6 gives has expired before it is used
    try:
        collection.step()
    finally:
        sim.server.app.url_ttl = ttl

    for collected in _zips(batch):
        assert collected.state == CollectedFile.State.WAITING and collected.attempts == 1
        assert "expired" in collected.last_error.lower()
        assert collected.next_attempt_at > collection.now
    assert CollectionCall.objects.count() == 6  # three fresh links per zip, at once, like E5's

    collection.later(31)
    collection.step()
    assert [each.state for each in _zips(batch)] == [CollectedFile.State.COLLECTED] * 2


def test_a_zip_webadmit_no_longer_has_fails_for_good_with_its_words(
    batch: ExportFile, collection: Collection, sim: SimulatorControl
) -> None:
    CollectionRule.objects.create(export=batch.export)
    sim.fault("identity_not_found", endpoint="P6", times=1)

    collection.step()

    states = sorted((each.state, bool(each.last_error)) for each in _zips(batch))
    assert states == [(CollectedFile.State.COLLECTED, False), (CollectedFile.State.FAILED, True)]


def test_a_zip_webadmit_cannot_give_now_is_tried_again_with_backoff(
    batch: ExportFile, collection: Collection, sim: SimulatorControl
) -> None:
    CollectionRule.objects.create(export=batch.export)
    sim.fault("server_error", endpoint="P6", times=2)

    collection.step()
    waiting = [each for each in _zips(batch) if each.state == CollectedFile.State.WAITING]
    assert len(waiting) == 2 and all(each.next_attempt_at > collection.now for each in waiting)

    collection.later(31)
    collection.step()
    assert [each.state for each in _zips(batch)] == [CollectedFile.State.COLLECTED] * 2


def test_the_index_fails_for_good_when_a_zip_did(
    batch: ExportFile, collection: Collection, sim: SimulatorControl, outbox: Path
) -> None:
    folder = Destination.objects.create(name="Outbox", kind=Destination.Kind.FOLDER, path=str(outbox))
    DeliveryRule.objects.create(destination=folder, export=batch.export, index_csv=True)
    sim.fault("identity_not_found", endpoint="P6", times=1)

    collection.step()
    collection.later(31)
    collection.step()

    index = CollectedFile.objects.get(export_file=batch, piece=Piece.INDEX)
    assert index.state == CollectedFile.State.FAILED
    assert "is not in the archive" in index.last_error
    assert [path.suffix for path in outbox.iterdir()] == [".zip"]  # the zip that was collected still goes


def test_the_file_page_shows_each_zip_and_its_kept_copy_downloads_from_the_archive(
    batch: ExportFile, collection: Collection, sim: SimulatorControl, client, admin_user
) -> None:
    CollectionRule.objects.create(export=batch.export)
    collection.step()
    client.force_login(admin_user)

    page = client.get(reverse("file_detail", args=[batch.pk])).content.decode()
    assert 'id="trail-collected-zip1"' in page and 'id="trail-collected-zip2"' in page
    assert "Zip 2 of 2 · <a" in page

    p6_before = sim.calls().get("P6", 0)
    answer = client.get(reverse("download_zip", args=[batch.pk, 2]))
    assert answer.status_code == 200
    assert b"".join(answer.streaming_content) == _served(sim, batch)[2]
    assert answer["Content-Disposition"].endswith('_part2of2.zip"')
    assert sim.calls().get("P6", 0) == p6_before  # WebAdMIT not asked
    event = DownloadEvent.objects.get()
    assert (event.export_file, event.outcome, event.message) == (
        batch,
        DownloadEvent.Outcome.FROM_ARCHIVE,
        "Zip 2 of 2",
    )


def test_the_index_reads_names_from_the_directory_never_the_contents() -> None:
    """A member whose bytes are garbage (its CRC fails on any read) is still listed, and a name that a spreadsheet
    would run as a formula is written as text."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as made:
        made.writestr("1234567890_José_García_Official Transcript_1_MPH.pdf", b"%PDF-1.4 " + b"a" * 5000)
        made.writestr("=HYPERLINK(1)_x.pdf", b"%PDF-1.4 tiny")
    data = bytearray(buffer.getvalue())
    start = data.index(b"a" * 5000)
    data[start : start + 5000] = bytes(range(256)) * 19 + bytes(136)  # garbage of the same length
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as damaged, pytest.raises(zipfile.BadZipFile):
        damaged.read(damaged.infolist()[0])  # proof the contents are garbage
    kept = archive.keep([bytes(data)])
    piece = CollectedFile(
        piece=Piece.ZIP,
        part=3,
        parts=3,
        storage_name=kept.storage_name,
        wrapped_key=kept.wrapped_key,
        size=kept.size,
        sha256=kept.sha256,
    )

    text = b"".join(zip_index.csv_chunks([piece])).decode("utf-8")

    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text.removeprefix("\ufeff")))) == [
        ["Zip part", "File name", "CAS ID"],
        ["3", "1234567890_José_García_Official Transcript_1_MPH.pdf", "1234567890"],
        ["3", "'=HYPERLINK(1)_x.pdf", "'=HYPERLINK(1)"],
    ]


def test_a_directory_beyond_the_tail_is_unreadable_not_read_from_the_start(monkeypatch) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as made:
        for number in range(50):
            made.writestr(f"{number:010d}_A_B_T_1_P.pdf", b"x")
    data = buffer.getvalue()
    monkeypatch.setattr(zip_index, "TAIL", 200)
    with pytest.raises(zip_index.Unreadable):
        zip_index.names_in([data], len(data))
