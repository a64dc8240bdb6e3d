"""What every destination shares: the payload handed over, the receipt returned, and the two kinds of failure.

A transport delivers one payload under its final name exactly once: it uploads under a temporary name the reader
ignores, verifies what arrived, then moves it to the final name without ever overwriting another file. When the final
name already holds the same bytes (a retry after a crash between the move and the record), the receipt says
`already_there`; when it holds different bytes, the delivery is refused and the file there is left alone.

Failures carry a `message` written for the admin who has to act on it, naming the destination and the file, never a
secret. `Transient` may pass by itself (the caller retries with backoff); `Refused` will not (the caller stops and
tells someone).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Protocol

# How much of a payload a transport holds at once: files may be 500 MB, memory must not grow with them.
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Payload:
    """One file to deliver. `open()` gives its bytes from the start, in chunks; it may be called again for a retry."""

    name: str
    size: int
    sha256: str
    open: Callable[[], AbstractContextManager[Iterator[bytes]]]

    def __post_init__(self) -> None:
        check_file_name(self.name)
        if self.size < 0:
            raise ValueError(f"the size of {self.name!r} is negative ({self.size})")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"the SHA-256 of {self.name!r} is not 64 lowercase hex digits")

    @property
    def temporary_name(self) -> str:
        """Where the bytes go first: hidden (readers such as Slate skip dot files) and deterministic, so the leftover
        of a crashed earlier try is overwritten rather than piling up."""
        return f".{self.name}.part"


@dataclass(frozen=True)
class Receipt:
    """Where a delivered file is now, as the destination names it (a full path, or s3://bucket/key)."""

    remote_name: str
    checksum_verified: bool  # the bytes there were checked against the SHA-256, not only the size
    already_there: bool  # the same bytes were already under that name: nothing was uploaded


class DeliveryFailed(Exception):
    """A delivery that did not happen; `message` names the destination and the file, never a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Transient(DeliveryFailed):
    """May pass by itself: a refused connection, a timeout, a server down, a full disk, a checksum mismatch."""


class Refused(DeliveryFailed):
    """Will not pass by retrying: credentials or host key refused, permission denied, a missing folder or bucket,
    a different file already under the name."""


class PayloadUnreadable(Exception):
    """The payload's own bytes could not be read (the archive's side, not the destination's). Transports let it
    through, so a file missing from the archive is never reported as the destination's "no such file"; errors a
    payload raises that are not OSError (the archive's authentication error, say) pass through unchanged too."""

    def __init__(self, name: str, error: OSError) -> None:
        super().__init__(f"the bytes of {name} to deliver could not be read: {error.strerror or error}")
        self.message = str(self.args[0])


class Transport(Protocol):
    def describe(self) -> str:
        """The destination in a few words for messages and pages, e.g. "SFTP sftp.example.edu:22/incoming"."""
        ...

    def deliver(self, payload: Payload) -> Receipt: ...


def check_file_name(name: str) -> str:
    """`name` itself when it is a plain file name; ValueError otherwise. The caller makes names safe; this re-check
    keeps a slip there from writing outside the destination's folder or under a name a reader cannot handle."""
    if not name:
        raise ValueError("the file name is empty")
    if "/" in name or "\\" in name:
        raise ValueError(f"the file name {name!r} holds a path separator")
    if name in (".", ".."):
        raise ValueError(f"the file name {name!r} names a folder")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError(f"the file name {name!r} holds a NUL or control character")
    return name


@contextmanager
def read_payload(payload: Payload) -> Iterator[Hashing]:
    """The payload's chunks, counted and hashed as they pass; its OSErrors turned into PayloadUnreadable."""
    with ExitStack() as stack:
        try:
            chunks = stack.enter_context(payload.open())
        except OSError as error:
            raise PayloadUnreadable(payload.name, error) from error
        yield Hashing(chunks, payload.name)


class Hashing:
    """Counts and hashes the chunks passing through it: what was actually sent, compared with what was promised."""

    def __init__(self, chunks: Iterable[bytes], name: str) -> None:
        self._chunks = chunks
        self._name = name
        self._hash = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._chunks)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except OSError as error:
                raise PayloadUnreadable(self._name, error) from error
            if chunk:
                self._hash.update(chunk)
                self.size += len(chunk)
                yield chunk

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def digest(self) -> bytes:
        return self._hash.digest()


def check_sent(payload: Payload, sent: Hashing, destination: str) -> None:
    """Refused when the bytes read from the payload are not those its size and SHA-256 promise (a damaged archive
    copy): sending them again would send the same wrong bytes."""
    if sent.size != payload.size or sent.hexdigest() != payload.sha256:
        raise Refused(
            f"{payload.name} was not delivered to {destination}: the bytes read for it ({sent.size:,} bytes) do not "
            f"match its recorded size ({payload.size:,} bytes) and SHA-256; the copy delivered from may be damaged"
        )


def rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The same bytes in pieces of exactly `size` (the last one shorter), holding at most about two pieces."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
