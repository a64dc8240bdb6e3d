"""The archive: collected files kept encrypted (envelope.py) in the `archive` storage, a folder or a bucket.

Files stream in and out in chunks: neither a whole file nor a temporary copy is ever held, whatever the size. Names
in the storage are random (`files/<yyyy>/<mm>/<uuid4 hex>.wda`): a folder or bucket listing tells nothing of
applicants or exports. A file is verified whole (every chunk authenticated, then its size and SHA-256 against the
database's record) before any of it is served, so a tampered file is refused, never handed out in part.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, cast

from django.core.files.storage import Storage, storages
from django.utils import timezone

from webadmit_dash.collection import envelope
from webadmit_dash.collection.envelope import Tampered

logger = logging.getLogger(__name__)

# What one read from the storage asks for: a few records of 64 KiB each.
READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Archived:
    """A file kept: where, its wrapped data key (a Fernet token, left out of reprs all the same), and what the
    plaintext was (for the database and for the check before each read)."""

    storage_name: str
    wrapped_key: str = field(repr=False)
    size: int
    sha256: str


def _storage() -> Storage:
    return storages["archive"]


class _IteratorReader:
    """An iterator of bytes as the file object a storage's save() accepts, read once, front to back.

    FileSystemStorage writes what chunks() yields; django-storages' S3 backend sees that seekable() is False and
    hands the object to boto3's upload_fileobj, which read(n)s it part by part. Neither needs the whole.
    """

    content_type = "application/octet-stream"

    def __init__(self, chunks: Iterable[bytes], name: str) -> None:
        self.name = name
        self._chunks = iter(chunks)
        self._pending = bytearray()
        self.closed = False

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data = bytes(self._pending) + b"".join(self._chunks)
            self._pending.clear()
            return data
        while len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        if self._pending:
            yield bytes(self._pending)
            self._pending.clear()
        yield from self._chunks

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()


def _new_name() -> str:
    return f"files/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.wda"


def store(encrypted: Iterable[bytes]) -> str:
    """Streams an encrypted file into the archive under a fresh name, which it returns.

    If the input or the storage fails midway, what was written is deleted and the error raised again. A folder
    holds one record at a time; boto3 (S3) holds its parts in flight: about 120 MB at its defaults (8 MiB parts, ten
    in memory), about 40 MB with the storage's `transfer_config` at 5 MiB parts, two in memory, two threads.
    """
    storage = _storage()
    name = _new_name()
    try:
        # The stubs ask for an IO; save() uses only chunks() (folders) or read(n) (django-storages' S3 backend).
        return storage.save(name, cast("IO[bytes]", _IteratorReader(encrypted, name)))
    except BaseException:
        # A fresh random name is nobody else's file: whatever is under it is this attempt's remains.
        try:
            storage.delete(name)
        except Exception:
            logger.exception("Could not delete the partly written archive file %s", name)
        raise


def keep(plaintext: Iterable[bytes], *, observe: Callable[[bytes], None] | None = None) -> Archived:
    """Encrypts and stores a file under a new data key in one pass, counting its size and SHA-256 on the way.

    `observe` sees each plaintext chunk as it passes (e.g. to count lines), so the download is read only once.
    """
    key = envelope.new_data_key()
    # Wrapped first: with no usable ENCRYPTION_KEYS nothing is stored that could never be opened.
    wrapped_key = envelope.wrap_key(key)
    digest = hashlib.sha256()
    size = 0

    def counted() -> Iterator[bytes]:
        nonlocal size
        for chunk in plaintext:
            digest.update(chunk)
            size += len(chunk)
            if observe is not None:
                observe(chunk)
            yield chunk

    storage_name = store(envelope.encrypt(counted(), key))
    return Archived(storage_name=storage_name, wrapped_key=wrapped_key, size=size, sha256=digest.hexdigest())


def _encrypted(storage_name: str) -> Iterator[bytes]:
    """The stored bytes, streamed. FileNotFoundError when there is no such file, whichever the backend."""
    storage = _storage()
    bucket_object = _s3_object(storage, storage_name)
    if bucket_object is not None:
        # django-storages' S3 files download the whole object into memory (or a temporary file) when first read;
        # the object's body streams instead.
        try:
            body = bucket_object.get()["Body"]
        except bucket_object.meta.client.exceptions.NoSuchKey:
            raise FileNotFoundError(f"No archived file {storage_name}.") from None
        try:
            yield from body.iter_chunks(READ_SIZE)
        finally:
            body.close()
        return
    with storage.open(storage_name, "rb") as stored:
        yield from stored.chunks(READ_SIZE)


def _s3_object(storage: Storage, storage_name: str) -> Any:
    """The boto3 object behind a name in django-storages' S3 backend, None for any other storage."""
    try:
        from storages.backends.s3 import S3Storage  # type: ignore[import-untyped]
        from storages.utils import clean_name  # type: ignore[import-untyped]
    except ImportError:
        return None
    if not isinstance(storage, S3Storage):
        return None
    return storage.bucket.Object(storage._normalize_name(clean_name(storage_name)))


def _decrypted(storage_name: str, key: bytes) -> Iterator[bytes]:
    try:
        yield from envelope.decrypt(_encrypted(storage_name), key)
    except Tampered as tampered:
        raise Tampered(tampered.reason, subject=f"The archived file {storage_name}") from None


def verify(storage_name: str, wrapped_key: str, *, size: int, sha256: str) -> None:
    """Reads the file through once: raises Tampered unless every chunk authenticates and the plaintext's size and
    SHA-256 are the ones recorded. crypto.UndecryptableSecret when no configured key unwraps its data key."""
    _verify(storage_name, envelope.unwrap_key(wrapped_key), size=size, sha256=sha256)


def _verify(storage_name: str, key: bytes, *, size: int, sha256: str) -> None:
    digest = hashlib.sha256()
    found = 0
    for chunk in _decrypted(storage_name, key):
        digest.update(chunk)
        found += len(chunk)
    subject = f"The archived file {storage_name}"
    if found != size:
        raise Tampered(f"it holds {found} bytes, not the {size} recorded", subject=subject)
    if digest.hexdigest() != sha256.lower():
        raise Tampered("its SHA-256 is not the one recorded", subject=subject)


def plaintext(storage_name: str, wrapped_key: str) -> Iterator[bytes]:
    """The file's plaintext, each chunk authenticated before it is yielded, but not the file as a whole: call
    verify() first, so that a file cut short is refused before anything is served rather than found at its end."""
    yield from _decrypted(storage_name, envelope.unwrap_key(wrapped_key))


def read(storage_name: str, wrapped_key: str, *, size: int, sha256: str) -> Iterator[bytes]:
    """verify(), then plaintext(), lazily: both run from the first next(), and nothing is yielded from a file that
    fails the check. A view that must answer an error status instead calls verify() before it answers."""
    key = envelope.unwrap_key(wrapped_key)
    _verify(storage_name, key, size=size, sha256=sha256)
    yield from _decrypted(storage_name, key)


def names_older_than(moment: datetime) -> Iterator[str]:
    """Every archived file's storage name last written before `moment`, walking `files/` (for the orphan sweep)."""
    storage = _storage()

    def walk(folder: str) -> Iterator[str]:
        try:
            folders, files = storage.listdir(folder)
        except FileNotFoundError:
            return
        for name in files:
            path = f"{folder}/{name}"
            if name.endswith(".wda") and storage.get_modified_time(path) < moment:
                yield path
        for sub in folders:
            yield from walk(f"{folder}/{sub}")

    yield from walk("files")


def delete(storage_name: str) -> None:
    """Removes a file; a file already gone is not an error."""
    _storage().delete(storage_name)


def exists(storage_name: str) -> bool:
    return _storage().exists(storage_name)
