"""The dashboard's test world: files in the shared identities, and a simulated WebAdMIT for downloads and runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.simulator.data import SimulatedWorld


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Each test starts with no cached counts: rolled-back tests reuse identity ids and change sequences."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world() -> SimulatedWorld:
    # Statuses move only when a test forces them.
    return SimulatedWorld(seed=5, identities=2, files_per_identity=6, pace=86_400, new_run_every=None)


@pytest.fixture
def sim_identity(sim_credential: Credential, world: SimulatedWorld) -> UserIdentity:
    upstream = world.identities()[0]
    return UserIdentity.objects.create(
        credential=sim_credential,
        webadmit_id=upstream.id,
        type="Admissions User",
        association=upstream.association or "",
        organization=upstream.organization or "",
        cycle=upstream.cycle or "",
    )
