"""Payloads for the destinations' tests: from bytes in memory, or streamed from a file on disk (for sizes whose memory
use is measured), counting how often their bytes were opened (0 when a destination uploaded nothing)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from webadmit_dash.collection.destinations.base import Payload

CHUNK = 64 * 1024


class Opened:
    def __init__(self) -> None:
        self.count = 0


def payload_of(name: str, data: bytes, *, opened: Opened | None = None, sha256: str | None = None) -> Payload:
    counter = opened or Opened()

    @contextmanager
    def open_bytes() -> Iterator[Iterator[bytes]]:
        counter.count += 1
        yield (data[start : start + CHUNK] for start in range(0, len(data), CHUNK))

    return Payload(name=name, size=len(data), sha256=sha256 or hashlib.sha256(data).hexdigest(), open=open_bytes)


def write_file(path: Path, size: int) -> Path:
    """`size` deterministic bytes (different in every 64 KiB block) written to `path` a chunk at a time."""
    with path.open("wb") as file:
        written = 0
        counter = 0
        while written < size:
            block = hashlib.sha256(counter.to_bytes(8, "big")).digest() * (CHUNK // 32)
            block = block[: size - written]
            file.write(block)
            written += len(block)
            counter += 1
    return path


def payload_from_file(name: str, path: Path) -> Payload:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)

    @contextmanager
    def open_file() -> Iterator[Iterator[bytes]]:
        with path.open("rb") as file:
            yield iter(lambda: file.read(CHUNK), b"")

    return Payload(name=name, size=path.stat().st_size, sha256=digest.hexdigest(), open=open_file)
