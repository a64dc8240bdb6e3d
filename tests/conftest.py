"""The shared test world: users with different rights, credentials and identities, reused by every test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from webadmit_dash.core.models import Credential, IdentityGrant, UserIdentity
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer

TEST_API_KEY = "5f2b8c0d9e1a4b7c8d2e3f4a5b6c7d8e"
SIMULATOR_KEY = "6a1f0c9e8d7b4a3f2e1d0c9b8a7f6e5d"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The run's own data folder (tests/settings.py): its SQLite files, broker queue and generated keys.
    own_data_dir = os.environ.get("WEBADMIT_TEST_OWN_DATA_DIR")
    if own_data_dir:
        shutil.rmtree(own_data_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Each test starts with nothing cached: rolled-back tests reuse identity ids and change sequences (the counts
    are cached by them), and a time signature (web/time_signature.py) read in another test's world is not this
    one's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world() -> SimulatedWorld:
    """The simulated WebAdMIT's data; statuses move only when a test forces them (a pace of a day)."""
    return SimulatedWorld(seed=5, identities=2, files_per_identity=6, pace=86_400, new_run_every=None)


@pytest.fixture
def simulator(world: SimulatedWorld) -> Iterator[SimulatorServer]:
    """The simulator over real HTTP on a free loopback port, accepting SIMULATOR_KEY."""
    with SimulatorServer(world, api_keys=[SIMULATOR_KEY]) as server:
        yield server


@pytest.fixture
def sim_credential(db: None, simulator: SimulatorServer) -> Credential:
    credential = Credential(name="Simulated", base_url=simulator.base_url)
    credential.set_api_key(SIMULATOR_KEY)
    credential.save()
    return credential


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


@pytest.fixture
def credential(db) -> Credential:
    credential = Credential(name="Nursing", base_url="https://api.webadmit.org")
    credential.set_api_key(TEST_API_KEY)
    credential.save()
    return credential


@pytest.fixture
def identity(credential) -> UserIdentity:
    return UserIdentity.objects.create(
        credential=credential,
        webadmit_id=2_147_483_659,  # above 2**31 on purpose: ids are 64-bit
        type="Admissions User",
        association="SOPHAS",
        institution="Woodbury University",
        organization="School of Public Health",
        cycle="2026 - 2027",
    )


@pytest.fixture
def other_identity(credential) -> UserIdentity:
    return UserIdentity.objects.create(
        credential=credential,
        webadmit_id=37442,
        type="Admissions User",
        association="PharmCAS",
        organization="College of Pharmacy",
        cycle="2026 - 2027",
    )


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_superuser("alice", "alice@example.edu", "password")


@pytest.fixture
def staff_granted(identity) -> User:
    """A staff member granted `identity` directly (not `other_identity`)."""
    user = User.objects.create_user("bob", "bob@example.edu", "password")
    IdentityGrant.objects.create(identity=identity, user=user)
    return user


@pytest.fixture
def staff_via_group(other_identity) -> User:
    """A staff member who sees `other_identity` through a group."""
    group = Group.objects.create(name="Pharmacy admissions")
    IdentityGrant.objects.create(identity=other_identity, group=group)
    user = User.objects.create_user("carol", "carol@example.edu", "password")
    user.groups.add(group)
    return user


@pytest.fixture
def staff_none(db) -> User:
    """A signed-in staff member granted nothing."""
    return User.objects.create_user("dave", "dave@example.edu", "password")
