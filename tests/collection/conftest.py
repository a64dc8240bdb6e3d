"""Collection's test world: the simulator over real HTTP serving files of a known size, identities imported from it
and refreshed once, and a `Collection` that runs the dispatcher's steps as the tasks do, without Celery."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests.support.simulated import SimulatorControl
from webadmit_dash.collection import choosing, claims, collector, delivering
from webadmit_dash.collection.models import CollectedFile, FileDelivery
from webadmit_dash.core.models import Credential, ExportFile, UserIdentity
from webadmit_dash.engine import credentials
from webadmit_dash.engine.refresh import refresh_identity
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer

FILE_SIZE = 300_000  # several of the envelope's 64 KiB chunks, a few of the client's reads


@pytest.fixture
def world() -> SimulatedWorld:
    return SimulatedWorld(
        seed=21, identities=1, files_per_identity=6, pace=86_400, new_run_every=None, file_size=FILE_SIZE
    )


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorControl:
    return SimulatorControl(simulator)


@pytest.fixture
def refreshed(sim_credential: Credential) -> UserIdentity:
    """The simulator's identity with its files as a refresh stored them."""
    credentials.import_identities(sim_credential)
    identity = UserIdentity.objects.get(credential=sim_credential)
    refresh_identity(identity.pk)
    return identity


def ready_files(identity: UserIdentity) -> list[ExportFile]:
    return list(
        ExportFile.objects.filter(identity=identity, status__in=["available", "success_with_errors"]).order_by("pk")
    )


@dataclass
class Collection:
    """What beat and the collection worker do, one dispatch at a time, as plain function calls."""

    ahead: timedelta = timedelta(0)  # how far this clock is ahead of the real one (`later`)
    collected: list[collector.Outcome] = field(default_factory=list)
    delivered: list[delivering.Outcome] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        return timezone.now() + self.ahead

    def step(self) -> None:
        choosing.scan()
        for pk in claims.due_ids(CollectedFile, CollectedFile.State.WAITING, self.now, 100):
            token = claims.claim(CollectedFile, pk, CollectedFile.State.WAITING, self.now)
            if token is not None:
                self.collected.append(collector.collect(pk, token))
        for pk in claims.due_ids(FileDelivery, FileDelivery.State.PENDING, self.now, 100):
            token = claims.claim(FileDelivery, pk, FileDelivery.State.PENDING, self.now)
            if token is not None:
                self.delivered.append(delivering.deliver(pk, token))

    def later(self, seconds: float) -> None:
        self.ahead += timedelta(seconds=seconds)


@pytest.fixture
def collection() -> Collection:
    return Collection()
