"""The dashboard's test world: files in the shared identities, and a simulated WebAdMIT for downloads and runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Each test starts with no cached counts: rolled-back tests reuse identity ids and change sequences."""
    cache.clear()
    yield
    cache.clear()
