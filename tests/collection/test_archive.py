"""The archive: files stream in encrypted and come out only whole and verified, in a folder and in an S3 bucket."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.s3_server import S3Server, running_s3
from webadmit_dash.collection import archive, envelope
from webadmit_dash.collection.archive import Archived
from webadmit_dash.collection.envelope import CHUNK_SIZE, HEADER_SIZE, TAG_SIZE, Tampered
from webadmit_dash.core import crypto

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "archive-test"


def pieces(data: bytes, size: int = 50_000) -> Iterator[bytes]:
    for position in range(0, len(data), size):
        yield data[position : position + size]


def applicants(size: int) -> bytes:
    """Text that looks like an export (so a leak of it would be visible), cut to size."""
    row = b"AP-000123,Jane Doe,jane.doe@example.edu,1999-04-01\n"
    return (row * (size // len(row) + 1))[:size]


def read_back(kept: Archived) -> bytes:
    return b"".join(archive.read(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256))


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@pytest.fixture
def archive_dir(settings, tmp_path) -> Path:
    """The archive as it is by default: an owner-only folder (not yet made: the storage makes it)."""
    location = tmp_path / "archive"
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location), "file_permissions_mode": 0o600, "directory_permissions_mode": 0o700},
        },
    }
    return location


def tamper(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 65_537, 5_000_000])
def test_it_keeps_and_reads_back_every_size(archive_dir, size):
    plaintext = os.urandom(size)
    kept = archive.keep(pieces(plaintext))
    assert kept.size == size
    assert kept.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert read_back(kept) == plaintext
    stored = archive_dir / kept.storage_name
    assert stored.stat().st_size == HEADER_SIZE + size + max(1, -(-size // CHUNK_SIZE)) * TAG_SIZE


def test_observe_sees_every_plaintext_chunk_once(archive_dir):
    plaintext = applicants(300_000)
    seen: list[bytes] = []
    kept = archive.keep(pieces(plaintext, 70_000), observe=seen.append)
    assert b"".join(seen) == plaintext
    assert len(seen) == 5
    assert read_back(kept) == plaintext


def test_storage_names_are_random_and_say_nothing(archive_dir):
    names = {archive.keep([b"AP-000123,Jane Doe\n"]).storage_name for _ in range(3)}
    assert len(names) == 3
    for name in names:
        assert re.fullmatch(r"files/\d{4}/\d{2}/[0-9a-f]{32}\.wda", name), name


def test_the_wrapped_key_is_left_out_of_the_repr(archive_dir):
    kept = archive.keep([b"x"])
    assert kept.wrapped_key not in repr(kept)
    assert kept.storage_name in repr(kept)


def test_on_disk_the_file_is_owner_only_in_owner_only_folders_and_unreadable(archive_dir):
    plaintext = applicants(200_000)
    kept = archive.keep(pieces(plaintext))
    stored = archive_dir / kept.storage_name
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    folder = stored.parent
    while True:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        if folder == archive_dir:
            break
        folder = folder.parent
    data = stored.read_bytes()
    assert data.startswith(b"WDA1")
    for secret in (b"Jane Doe", b"example.edu", b"AP-000123"):
        assert secret not in data


def failing_after(plaintext: bytes, pieces_before_failure: int) -> Iterator[bytes]:
    for number, piece in enumerate(pieces(plaintext, CHUNK_SIZE)):
        if number == pieces_before_failure:
            raise ConnectionResetError("the download broke off")
        yield piece


def test_a_failure_in_the_middle_of_the_input_leaves_no_file(archive_dir):
    with pytest.raises(ConnectionResetError, match="the download broke off"):
        archive.keep(failing_after(os.urandom(20 * CHUNK_SIZE), 10))
    assert files_under(archive_dir) == []


def test_store_deletes_what_it_wrote_when_its_input_fails(archive_dir):
    key = envelope.new_data_key()
    # More than the first piece reached the file before the failure: there was something to delete.
    written: list[int] = []

    def encrypted() -> Iterator[bytes]:
        for chunk in envelope.encrypt(failing_after(os.urandom(8 * CHUNK_SIZE), 5), key):
            written.append(len(chunk))
            yield chunk

    with pytest.raises(ConnectionResetError):
        archive.store(encrypted())
    assert sum(written) > 4 * CHUNK_SIZE
    assert files_under(archive_dir) == []


@pytest.mark.parametrize("where", ["last chunk", "first chunk", "header"])
def test_a_tampered_file_yields_nothing(archive_dir, where):
    plaintext = os.urandom(3 * CHUNK_SIZE + 500)
    kept = archive.keep(pieces(plaintext))
    stored = archive_dir / kept.storage_name
    tamper(stored, {"last chunk": -1, "first chunk": HEADER_SIZE + 3, "header": 7}[where])
    served: list[bytes] = []
    with pytest.raises(Tampered, match=f"The archived file {kept.storage_name} failed its integrity check"):
        served.extend(archive.read(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256))
    assert served == []
    with pytest.raises(Tampered):
        archive.verify(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256)


def test_a_file_cut_short_at_a_chunk_boundary_yields_nothing(archive_dir):
    kept = archive.keep(pieces(os.urandom(3 * CHUNK_SIZE + 500)))
    stored = archive_dir / kept.storage_name
    stored.write_bytes(stored.read_bytes()[: HEADER_SIZE + 2 * (CHUNK_SIZE + TAG_SIZE)])
    iterator = archive.read(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256)
    with pytest.raises(Tampered, match="its last chunk does not authenticate"):
        next(iterator)


def test_another_files_key_does_not_open_it(archive_dir):
    first, second = archive.keep([b"first file"]), archive.keep([b"second file"])
    with pytest.raises(Tampered):
        archive.verify(first.storage_name, second.wrapped_key, size=first.size, sha256=first.sha256)


def test_a_size_or_checksum_other_than_recorded_is_refused(archive_dir):
    kept = archive.keep([b"AP-000123,Jane Doe\n"])
    with pytest.raises(Tampered, match="it holds 19 bytes, not the 20 recorded"):
        archive.verify(kept.storage_name, kept.wrapped_key, size=20, sha256=kept.sha256)
    with pytest.raises(Tampered, match="its SHA-256 is not the one recorded"):
        next(archive.read(kept.storage_name, kept.wrapped_key, size=kept.size, sha256="0" * 64))
    # The recorded checksum may come back upper-case from elsewhere.
    archive.verify(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256.upper())


def test_read_is_lazy_and_verify_then_plaintext_serve_a_view(archive_dir):
    plaintext = applicants(150_000)
    kept = archive.keep(pieces(plaintext))
    (archive_dir / kept.storage_name).unlink()
    # Nothing happens until the first next(): a view could return it as a StreamingHttpResponse's content.
    iterator = archive.read(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256)
    with pytest.raises(FileNotFoundError):
        next(iterator)
    with pytest.raises(FileNotFoundError):
        archive.verify(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256)

    kept = archive.keep(pieces(plaintext))
    archive.verify(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256)
    assert b"".join(archive.plaintext(kept.storage_name, kept.wrapped_key)) == plaintext


def test_a_removed_encryption_key_fails_clearly(archive_dir, settings):
    from cryptography.fernet import Fernet

    kept = archive.keep([b"AP-000123,Jane Doe\n"])
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.UndecryptableSecret, match="data key cannot be unwrapped"):
        next(archive.read(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256))


def test_delete_is_idempotent_and_exists_tells(archive_dir):
    kept = archive.keep([b"x" * 1000])
    assert archive.exists(kept.storage_name)
    archive.delete(kept.storage_name)
    assert not archive.exists(kept.storage_name)
    archive.delete(kept.storage_name)
    assert files_under(archive_dir) == []


# S3 through django-storages, on moto's server over HTTP.


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def archive_bucket(settings, s3) -> S3Server:
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3.endpoint_url,
                "region_name": s3.region,
                "access_key": s3.access_key_id,
                "secret_key": s3.secret_access_key,
            },
        },
    }
    return s3


def bucket_names(s3: S3Server) -> list[str]:
    return [item["Key"] for item in s3.client().list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_in_an_s3_bucket_a_20_mb_file_is_kept_and_read_back(archive_bucket):
    plaintext = applicants(20_000_000)
    kept = archive.keep(pieces(plaintext, 1_000_000))
    assert bucket_names(archive_bucket) == [kept.storage_name]
    stored = archive_bucket.client().get_object(Bucket=BUCKET, Key=kept.storage_name)["Body"].read()
    assert len(stored) == HEADER_SIZE + 20_000_000 + -(-20_000_000 // CHUNK_SIZE) * TAG_SIZE
    assert b"Jane Doe" not in stored
    assert read_back(kept) == plaintext
    archive.delete(kept.storage_name)
    archive.delete(kept.storage_name)
    assert not archive.exists(kept.storage_name)
    assert bucket_names(archive_bucket) == []


def test_in_an_s3_bucket_a_tampered_file_yields_nothing(archive_bucket):
    kept = archive.keep(pieces(os.urandom(3 * CHUNK_SIZE + 500)))
    client = archive_bucket.client()
    data = bytearray(client.get_object(Bucket=BUCKET, Key=kept.storage_name)["Body"].read())
    data[-1] ^= 0x01
    client.put_object(Bucket=BUCKET, Key=kept.storage_name, Body=bytes(data))
    served: list[bytes] = []
    with pytest.raises(Tampered, match="its last chunk does not authenticate"):
        served.extend(archive.read(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256))
    assert served == []
    archive.delete(kept.storage_name)
    with pytest.raises(FileNotFoundError):
        archive.verify(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256)


@pytest.mark.parametrize("megabytes_before_failure", [1, 12])
def test_in_an_s3_bucket_a_failure_midway_leaves_nothing(archive_bucket, megabytes_before_failure):
    """1 MB: boto3 had not started (a single PUT under 8 MB); 12 MB: a multipart upload was under way."""
    with pytest.raises(ConnectionResetError):
        archive.keep(failing_after(os.urandom(20_000_000), megabytes_before_failure * 1_000_000 // CHUNK_SIZE))
    client = archive_bucket.client()
    assert bucket_names(archive_bucket) == []
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


# Memory: a 300 MiB stream kept and read back in a process of its own, its peak resident memory measured.

MEMORY_PROBE = textwrap.dedent(
    """
    import json, os, time
    import django
    django.setup()
    from webadmit_dash.collection import archive

    def vm(field):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field + ":"))

    BLOCK = os.urandom(1 << 20)

    def stream(mebibytes):
        for _ in range(mebibytes):
            yield BLOCK

    def drain(iterator):
        return sum(len(chunk) for chunk in iterator)

    # Warm up (imports, the storage, the cipher), then reset the peak so that only the big file counts.
    small = archive.keep(stream(2))
    drain(archive.read(small.storage_name, small.wrapped_key, size=small.size, sha256=small.sha256))
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    baseline = vm("VmRSS")

    size = int(os.environ["PROBE_MEBIBYTES"])
    started = time.perf_counter()
    kept = archive.keep(stream(size))
    kept_at = time.perf_counter()
    archive.verify(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256)
    verified_at = time.perf_counter()
    served = drain(archive.plaintext(kept.storage_name, kept.wrapped_key))
    read_at = time.perf_counter()
    served_checked = drain(archive.read(kept.storage_name, kept.wrapped_key, size=kept.size, sha256=kept.sha256))
    print(json.dumps({
        "bytes": kept.size, "served": served, "served_checked": served_checked,
        "baseline": baseline, "peak": vm("VmHWM"),
        "keep_seconds": kept_at - started, "verify_seconds": verified_at - kept_at,
        "plaintext_seconds": read_at - verified_at,
        "stored_bytes": os.path.getsize(os.path.join(os.environ["ARCHIVE_DIR"], kept.storage_name)),
    }))
    """
)


@pytest.mark.slow
def test_a_300_mib_stream_is_kept_and_read_back_in_flat_memory(tmp_path):
    mebibytes = 300
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ARCHIVE_DIR": str(tmp_path / "archive"),
        "PROBE_MEBIBYTES": str(mebibytes),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE], env=environment, cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    size = mebibytes << 20
    assert probe["bytes"] == probe["served"] == probe["served_checked"] == size
    assert probe["stored_bytes"] > size
    growth = probe["peak"] - probe["baseline"]
    megabytes = size / 1e6
    print(
        f"\npeak RSS growth {growth / 1e6:.1f} MB; encrypt+store {megabytes / probe['keep_seconds']:.0f} MB/s, "
        f"verify {megabytes / probe['verify_seconds']:.0f} MB/s, read {megabytes / probe['plaintext_seconds']:.0f} MB/s"
    )
    assert growth < 60_000_000
