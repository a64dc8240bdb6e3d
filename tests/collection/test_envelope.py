"""The envelope: chunked AES-GCM round trips whatever the sizes and chunkings, and every kind of tampering is caught."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Iterator

import pytest
from cryptography.fernet import Fernet

from webadmit_dash.collection import envelope
from webadmit_dash.collection.envelope import CHUNK_SIZE, HEADER_SIZE, TAG_SIZE, Tampered
from webadmit_dash.core import crypto

RECORD = CHUNK_SIZE + TAG_SIZE


def rechunked(data: bytes, sizes: Iterable[int]) -> Iterator[bytes]:
    """data cut into pieces of the given sizes, cycled (e.g. [1, 7, 65_553])."""
    sizes = list(sizes)
    position, turn = 0, 0
    while position < len(data):
        size = sizes[turn % len(sizes)]
        yield data[position : position + size]
        position += size
        turn += 1


def sealed(plaintext: bytes, key: bytes) -> bytes:
    return b"".join(envelope.encrypt([plaintext], key))


def opened(ciphertext: bytes, key: bytes) -> bytes:
    return b"".join(envelope.decrypt([ciphertext], key))


def records(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    """The header and the records of an encrypted file."""
    body = ciphertext[HEADER_SIZE:]
    return ciphertext[:HEADER_SIZE], [body[i : i + RECORD] for i in range(0, len(body), RECORD)]


@pytest.fixture
def key() -> bytes:
    return envelope.new_data_key()


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, 5_000_000])
def test_it_round_trips_every_size(key, size):
    plaintext = os.urandom(size)
    ciphertext = sealed(plaintext, key)
    # One header, one tag per chunk (at least one chunk: an empty file is a sealed empty chunk).
    chunks = max(1, -(-size // CHUNK_SIZE))
    assert len(ciphertext) == HEADER_SIZE + size + chunks * TAG_SIZE
    assert opened(ciphertext, key) == plaintext


@pytest.mark.parametrize("sizes", [[1], [7, 65_553], [65_536], [100_000, 3], [HEADER_SIZE - 1, 1, RECORD + 1]])
def test_it_round_trips_any_input_chunking(key, sizes):
    plaintext = os.urandom(3 * CHUNK_SIZE + 123)
    # Odd chunkings on the way in (plaintext) and on the way out (ciphertext as a storage might hand it back).
    ciphertext = b"".join(envelope.encrypt(rechunked(plaintext, sizes), key))
    assert b"".join(envelope.decrypt(rechunked(ciphertext, sizes), key)) == plaintext


def test_the_empty_file_is_authenticated(key):
    ciphertext = sealed(b"", key)
    assert len(ciphertext) == HEADER_SIZE + TAG_SIZE
    assert opened(ciphertext, key) == b""
    with pytest.raises(Tampered):
        opened(ciphertext[:HEADER_SIZE], key)  # its one chunk dropped


def test_each_file_has_its_own_nonce_prefix(key):
    # The same key and plaintext twice (never done, but the prefix alone must keep the nonces apart).
    assert sealed(b"same", key) != sealed(b"same", key)


def test_the_plaintext_does_not_appear_in_the_ciphertext(key):
    plaintext = b"Applicant,Jane Doe,jane@example.edu\n" * 5_000
    assert b"Jane Doe" not in sealed(plaintext, key)


def tampered_versions(ciphertext: bytes, other: bytes) -> dict[str, bytes]:
    """Every way of tampering the brief names, on a file of four chunks (`other`: another file, same key)."""
    header, chunks = records(ciphertext)
    other_header, other_chunks = records(other)
    assert len(chunks) == 4
    flipped_middle = bytearray(ciphertext)
    flipped_middle[HEADER_SIZE + RECORD + 10] ^= 0x01
    flipped_tag = bytearray(ciphertext)
    flipped_tag[-1] ^= 0x80
    flipped_header = bytearray(ciphertext)
    flipped_header[6] ^= 0x01  # in the nonce prefix
    return {
        "cut at a chunk boundary": header + b"".join(chunks[:3]),
        "cut inside a chunk": ciphertext[:-50],
        "cut inside the last tag": ciphertext[:-1],
        "cut to the header": header,
        "cut inside the header": header[:10],
        "nothing at all": b"",
        "two chunks swapped": header + chunks[1] + chunks[0] + chunks[2] + chunks[3],
        "a chunk dropped": header + chunks[0] + chunks[2] + chunks[3],
        "a chunk repeated": header + chunks[0] + chunks[0] + chunks[1] + chunks[2] + chunks[3],
        "a byte flipped in a middle chunk": bytes(flipped_middle),
        "a byte flipped in the last tag": bytes(flipped_tag),
        "a byte flipped in the header": bytes(flipped_header),
        "one byte appended": ciphertext + b"\x00",
        "a chunk appended": ciphertext + chunks[1],
        "another file's header": other_header + b"".join(chunks),
        "another file's chunk": header + chunks[0] + other_chunks[1] + chunks[2] + chunks[3],
        "another file's last chunk": header + b"".join(chunks[:3]) + other_chunks[3],
        "a foreign magic": b"WDA2" + ciphertext[4:],
        "another chunk size": ciphertext[:12] + (1024).to_bytes(4, "big") + ciphertext[16:],
    }


_FOUR_CHUNKS = b"\x00" * (HEADER_SIZE + 3 * RECORD + 100)
TAMPERINGS = list(tampered_versions(_FOUR_CHUNKS, _FOUR_CHUNKS))


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_every_tampering_is_caught(key, tampering):
    plaintext = os.urandom(3 * CHUNK_SIZE + 84)
    ciphertext = sealed(plaintext, key)
    assert opened(ciphertext, key) == plaintext  # the untouched file opens: the tampering is what fails
    tampered = tampered_versions(ciphertext, sealed(plaintext, key))[tampering]
    with pytest.raises(Tampered, match="failed its integrity check"):
        opened(tampered, key)


def test_a_file_cut_at_a_chunk_boundary_fails_only_at_its_end(key):
    """Why archive.read verifies the whole file first: decrypt alone has served the first chunks by then."""
    ciphertext = sealed(os.urandom(3 * CHUNK_SIZE + 84), key)
    header, chunks = records(ciphertext)
    served = []
    with pytest.raises(Tampered, match="its last chunk does not authenticate"):
        for chunk in envelope.decrypt([header, *chunks[:3]], key):
            served.append(chunk)
    assert len(served) == 2


def test_tampered_survives_pickling_with_its_words():
    tampered = Tampered("its last chunk does not authenticate", subject="File 7")
    copy = pickle.loads(pickle.dumps(tampered))  # noqa: S301 - our own bytes, just made
    assert str(copy) == str(tampered) == "File 7 failed its integrity check: its last chunk does not authenticate."
    assert copy.reason == tampered.reason
    # As Celery's JSON results rebuild an exception: its class called with its args.
    assert str(Tampered(*tampered.args)) == str(tampered)


def test_the_wrong_data_key_is_caught(key):
    with pytest.raises(Tampered, match="chunk 1 does not authenticate"):
        opened(sealed(os.urandom(CHUNK_SIZE * 2), key), envelope.new_data_key())


def test_tampered_words_say_nothing_of_key_or_plaintext(key):
    plaintext = b"Jane Doe " * 10_000
    ciphertext = bytearray(sealed(plaintext, key))
    ciphertext[HEADER_SIZE + 5] ^= 1
    with pytest.raises(Tampered) as caught:
        opened(bytes(ciphertext), key)
    words = str(caught.value)
    assert words == (
        "The encrypted file failed its integrity check: chunk 1 does not authenticate "
        "(changed, moved, cut short or extended)."
    )
    assert key.hex() not in words and "Jane" not in words and repr(key) not in repr(caught.value)


@pytest.fixture
def key_a(settings) -> str:
    key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [key]
    return key


def test_a_data_key_wrapped_under_a_opens_after_b_is_put_first(settings, key_a, key):
    wrapped = envelope.wrap_key(key)
    assert key.hex() not in wrapped and key not in wrapped.encode()
    key_b = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [key_b, key_a]
    assert envelope.unwrap_key(wrapped) == key
    # What rotate_encryption_keys does to every registered field: re-wrapped under B, then A can go.
    rewrapped = crypto.reencrypt(wrapped)
    settings.ENCRYPTION_KEYS = [key_b]
    assert envelope.unwrap_key(rewrapped) == key
    with pytest.raises(crypto.UndecryptableSecret):
        envelope.unwrap_key(wrapped)


def test_a_wrong_encryption_key_fails_in_words_that_reveal_nothing(settings, key_a, key):
    wrapped = envelope.wrap_key(key)
    other = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [other]
    with pytest.raises(crypto.UndecryptableSecret) as caught:
        envelope.unwrap_key(wrapped)
    words = str(caught.value)
    assert words == (
        "An archived file's data key cannot be unwrapped with any key in ENCRYPTION_KEYS; "
        "was an old encryption key removed before rotation?"
    )
    for secret in (key_a, other, wrapped, key.hex()):
        assert secret not in words and secret not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_wrap_key_refuses_what_is_not_a_data_key(key_a):
    with pytest.raises(ValueError, match="32 bytes"):
        envelope.wrap_key(b"short")
