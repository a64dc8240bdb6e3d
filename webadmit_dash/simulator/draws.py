"""Small helpers the simulated world's parts share (export files in data.py, PDF Manager in pdf_manager.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Container


def roll(seed: int, salt: str, number: int) -> float:
    """A deterministic number in [0, 1) for (seed, salt, number): stable across runs and Python versions."""
    digest = hashlib.blake2b(f"{seed}:{salt}:{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def canonical(raw: str, known: Container[str]) -> str:
    """A status or state the control API was given, as the world keeps it: any spelling of a `known` one in snake
    case ("Success With Errors", " in-progress "), anything else exactly as given."""
    key = "_".join(raw.strip().lower().replace("-", " ").replace("_", " ").split())
    return key if key in known else raw
