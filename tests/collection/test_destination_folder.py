"""The folder destination against real folders: delivered once under the final name, never overwriting, and the
faults of a real disk (a read-only mount, a full one) told apart: refused, or worth another try."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.collection.destination_payloads import Opened, payload_from_file, payload_of, write_file
from webadmit_dash.collection.destinations.base import Payload, PayloadUnreadable, Refused, Transient
from webadmit_dash.collection.destinations.folder import FolderDestination

DATA = b"id,name\n" + b"1,Ada\n" * 10_000


@contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs of its own at `path` (a full disk or a read-only one, for real); skipped where mounting is not
    permitted (not root, or a container without CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_it_delivers_under_the_final_name_with_no_temporary_file_left(tmp_path: Path) -> None:
    receipt = FolderDestination(tmp_path).deliver(payload_of("export.csv", DATA))

    assert (tmp_path / "export.csv").read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]
    assert receipt.remote_name == str(tmp_path / "export.csv")
    assert receipt.checksum_verified
    assert not receipt.already_there


def test_the_same_bytes_again_are_already_there_and_nothing_is_written(tmp_path: Path) -> None:
    destination = FolderDestination(tmp_path)
    destination.deliver(payload_of("export.csv", DATA))
    written_at = (tmp_path / "export.csv").stat().st_mtime_ns
    opened = Opened()

    receipt = destination.deliver(payload_of("export.csv", DATA, opened=opened))

    assert receipt.already_there
    assert receipt.checksum_verified
    assert opened.count == 0
    assert (tmp_path / "export.csv").stat().st_mtime_ns == written_at


def test_a_different_file_under_the_name_is_refused_and_left_untouched(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_bytes(b"someone else's file")

    with pytest.raises(Refused) as refused:
        FolderDestination(tmp_path).deliver(payload_of("export.csv", DATA))

    assert "a different file named export.csv is already in" in refused.value.message
    assert str(tmp_path) in refused.value.message
    assert (tmp_path / "export.csv").read_bytes() == b"someone else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_a_different_file_of_the_same_size_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_bytes(bytes(len(DATA)))

    with pytest.raises(Refused):
        FolderDestination(tmp_path).deliver(payload_of("export.csv", DATA))

    assert (tmp_path / "export.csv").read_bytes() == bytes(len(DATA))


def test_a_crashed_tries_leftover_is_replaced_and_the_file_delivered_once(tmp_path: Path) -> None:
    (tmp_path / ".export.csv.part").write_bytes(b"half of an earlier try, and longer than the file itself" * 10_000)

    receipt = FolderDestination(tmp_path).deliver(payload_of("export.csv", DATA))

    assert not receipt.already_there
    assert (tmp_path / "export.csv").read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_bytes_that_do_not_match_their_checksum_are_refused_and_nothing_is_left(tmp_path: Path) -> None:
    wrong = payload_of("export.csv", DATA, sha256=hashlib.sha256(b"other").hexdigest())

    with pytest.raises(Refused) as refused:
        FolderDestination(tmp_path).deliver(wrong)

    assert "do not match its recorded size" in refused.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    destination = FolderDestination(tmp_path / "a-file" / "outbox")

    with pytest.raises(Refused) as refused:
        destination.deliver(payload_of("export.csv", DATA))

    assert refused.value.message == (
        f"export.csv was not delivered to folder {tmp_path / 'a-file' / 'outbox'}: the folder does not exist"
    )


def test_a_folder_that_is_not_writable_is_refused_with_the_reason(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    if os.geteuid() == 0:
        # root ignores permission bits: a read-only mount refuses everyone.
        context = mounted_tmpfs(outbox, "ro,size=1m")
        reason = "Read-only file system"
    else:
        outbox.mkdir()
        outbox.chmod(0o555)
        context = _nothing(outbox)
        reason = "Permission denied"
    with context, pytest.raises(Refused) as refused:
        FolderDestination(outbox).deliver(payload_of("export.csv", DATA))

    assert refused.value.message == (
        f"export.csv was not delivered to folder {outbox}: the folder {outbox} is not writable ({reason})"
    )


def test_a_full_disk_is_transient_with_the_reason_and_leaves_nothing(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    with mounted_tmpfs(outbox, "size=256k"):
        with pytest.raises(Transient) as transient:
            FolderDestination(outbox).deliver(payload_of("export.csv", os.urandom(512 * 1024)))

        assert transient.value.message == (
            f"export.csv was not delivered to folder {outbox}: the disk holding {outbox} is full "
            "(No space left on device)"
        )
        assert list(outbox.iterdir()) == []


@pytest.mark.parametrize("name", ["", "a/b.csv", "a\\b.csv", "..", ".", "a\x00b.csv", "a\nb.csv", "a\x7fb.csv"])
def test_a_name_that_is_not_a_plain_file_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="file name"):
        payload_of(name, DATA)


def test_a_name_with_dots_inside_is_a_plain_file_name(tmp_path: Path) -> None:
    payload: Payload = payload_of("a..b.csv", DATA)

    assert FolderDestination(tmp_path).deliver(payload).remote_name == str(tmp_path / "a..b.csv")


@contextmanager
def _nothing(path: Path) -> Iterator[Path]:
    yield path


def test_a_file_arriving_under_the_name_during_the_write_is_not_overwritten(tmp_path: Path) -> None:
    """The check before the write saw nothing; the move itself (a hard link) refuses the taken name."""

    def open_and_race() -> Iterator[Iterator[bytes]]:
        (tmp_path / "export.csv").write_bytes(b"the racer's file")
        yield iter([DATA])

    racing = dataclasses.replace(payload_of("export.csv", DATA), open=contextmanager(open_and_race))

    with pytest.raises(Refused, match=r"a different file named export\.csv"):
        FolderDestination(tmp_path).deliver(racing)

    assert (tmp_path / "export.csv").read_bytes() == b"the racer's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_a_payload_that_cannot_be_read_is_its_own_error_not_the_folders(tmp_path: Path) -> None:
    gone = payload_from_file("export.csv", write_file(tmp_path / "archived", 1000))
    (tmp_path / "archived").unlink()
    outbox = tmp_path / "outbox"
    outbox.mkdir()

    with pytest.raises(PayloadUnreadable, match=r"the bytes of export\.csv to deliver could not be read"):
        FolderDestination(outbox).deliver(gone)

    assert list(outbox.iterdir()) == []
