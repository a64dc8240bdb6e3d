"""Envelope encryption for archived files: a stream cut into authenticated chunks under a data key of its own.

Format (version 1): a 16-byte header, then records. The header is the magic b"WDA1", the format version, a random
7-byte nonce prefix and the chunk size (64 KiB). Each record is one chunk of plaintext sealed with AES-256-GCM, its
nonce the prefix + a 4-byte counter + a flag that is 1 on the last chunk only, the whole header as associated data
(the STREAM construction). Every chunk but the last holds exactly a chunk size of plaintext; the last holds 0 to a
chunk size, so an empty file is one sealed empty chunk, and still authenticated. The counter catches reordered,
dropped and repeated chunks; the flag catches a file cut at a chunk boundary or extended after its end; the header as
associated data catches a header swapped in from another file.

The data key (32 random bytes per file) is not in the file: it is wrapped by core.crypto (Fernet under
ENCRYPTION_KEYS) and kept in the database, so rotating ENCRYPTION_KEYS re-wraps keys without rewriting any file.
"""

from __future__ import annotations

import base64
import itertools
import os
import struct
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from webadmit_dash.core import crypto

MAGIC = b"WDA1"
VERSION = 1
CHUNK_SIZE = 64 * 1024
KEY_SIZE = 32
TAG_SIZE = 16
_PREFIX_SIZE = 7
# magic, version, nonce prefix, chunk size (big-endian).
_HEADER = struct.Struct(f">4sB{_PREFIX_SIZE}sI")
HEADER_SIZE = _HEADER.size
_RECORD_SIZE = CHUNK_SIZE + TAG_SIZE
# A 4-byte counter: 2**32 chunks of 64 KiB (256 TiB) before a nonce could repeat.
_MAX_CHUNKS = 2**32


class Tampered(Exception):
    """An encrypted file that fails its integrity check: changed, cut short, extended, or not the file it claims."""

    def __init__(self, reason: str, subject: str = "The encrypted file") -> None:
        # Its parts as its args, so that a copy rebuilt from them (pickle, Celery's JSON results) says the same.
        super().__init__(reason, subject)
        self.reason = reason
        self.subject = subject

    def __str__(self) -> str:
        return f"{self.subject} failed its integrity check: {self.reason}."


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_SIZE * 8)


def wrap_key(key: bytes) -> str:
    """The data key as a Fernet token under the first of ENCRYPTION_KEYS (text, for a field registered with
    core.crypto so that `rotate_encryption_keys` re-wraps it)."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"A data key is {KEY_SIZE} bytes.")
    return crypto.encrypt(base64.urlsafe_b64encode(key).decode("ascii"))


def unwrap_key(wrapped: str) -> bytes:
    try:
        encoded = crypto.decrypt(wrapped)
    except crypto.UndecryptableSecret:
        # core.crypto's words speak of API keys; these say what cannot be opened, and nothing of either key.
        raise crypto.UndecryptableSecret(
            "An archived file's data key cannot be unwrapped with any key in ENCRYPTION_KEYS; "
            "was an old encryption key removed before rotation?"
        ) from None
    key = base64.urlsafe_b64decode(encoded)
    if len(key) != KEY_SIZE:
        raise crypto.UndecryptableSecret("A wrapped data key opened, but does not hold a data key.")
    return key


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= _MAX_CHUNKS:
        raise ValueError("The file is too large for one data key (2**32 chunks).")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def encrypt(chunks: Iterable[bytes], key: bytes) -> Iterator[bytes]:
    """The header, then one sealed record per 64 KiB of plaintext; the input may be chunked any way."""
    aead = AESGCM(key)
    prefix = os.urandom(_PREFIX_SIZE)
    header = _HEADER.pack(MAGIC, VERSION, prefix, CHUNK_SIZE)
    yield header
    pending = bytearray()
    counter = 0
    for chunk in chunks:
        pending += chunk
        # A full chunk is sealed only once a byte after it is known to exist: until then it may be the last one.
        while len(pending) > CHUNK_SIZE:
            yield aead.encrypt(_nonce(prefix, counter, last=False), bytes(pending[:CHUNK_SIZE]), header)
            del pending[:CHUNK_SIZE]
            counter += 1
    yield aead.encrypt(_nonce(prefix, counter, last=True), bytes(pending), header)


def decrypt(chunks: Iterable[bytes], key: bytes) -> Iterator[bytes]:
    """The plaintext, chunk by chunk, each authenticated before it is yielded; raises Tampered at the first fault.

    A file cut short is found only at its end: a caller that must not hand out any of a tampered file reads it
    through once first (archive.verify).
    """
    aead = AESGCM(key)
    pending = bytearray()
    source = iter(chunks)
    for chunk in source:
        pending += chunk
        if len(pending) >= HEADER_SIZE:
            break
    if len(pending) < HEADER_SIZE:
        raise Tampered("it is shorter than its header")
    header = bytes(pending[:HEADER_SIZE])
    del pending[:HEADER_SIZE]
    magic, version, prefix, chunk_size = _HEADER.unpack(header)
    if magic != MAGIC:
        raise Tampered("it does not start as an archived file does")
    if version != VERSION or chunk_size != CHUNK_SIZE:
        raise Tampered(
            f"its header names format {version} with {chunk_size}-byte chunks, which this version never wrote"
        )

    def open_record(record: bytes, counter: int, last: bool) -> bytes:
        try:
            return aead.decrypt(_nonce(prefix, counter, last), record, header)
        except InvalidTag:
            # Which chunk, never why: AES-GCM cannot tell a flipped byte from a wrong key or a moved chunk.
            where = "its last chunk" if last else f"chunk {counter + 1}"
            raise Tampered(f"{where} does not authenticate (changed, moved, cut short or extended)") from None

    counter = 0
    # The empty chunk first: records that arrived with the header are opened even when nothing follows.
    for chunk in itertools.chain((b"",), source):
        pending += chunk
        # A full record is opened as a middle chunk only once a byte after it is known to exist.
        while len(pending) > _RECORD_SIZE:
            yield open_record(bytes(pending[:_RECORD_SIZE]), counter, last=False)
            del pending[:_RECORD_SIZE]
            counter += 1
    if len(pending) < TAG_SIZE:
        raise Tampered("it ends inside a chunk")
    yield open_record(bytes(pending), counter, last=True)
