"""The engine's test world: a simulated WebAdMIT over real HTTP, a credential and identities pointed at it, and a
real Celery worker for the tests that need one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from tests.support.simulated import SimulatorControl
from tests.support.worker import celery_worker_process  # noqa: F401 - the shared fixture, re-exported
from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.engine import credentials, healing, schedule
from webadmit_dash.engine.refresh import RefreshOutcome, refresh_identity
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer


@pytest.fixture
def world() -> SimulatedWorld:
    # Statuses move only when a test forces them: a pace of a day, no periodic new runs.
    return SimulatedWorld(seed=11, identities=3, files_per_identity=6, pace=86_400, new_run_every=None)


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorControl:
    return SimulatorControl(simulator)


@pytest.fixture
def sim_identities(sim_credential: Credential) -> list[UserIdentity]:
    credentials.import_identities(sim_credential)
    return list(UserIdentity.objects.filter(credential=sim_credential).order_by("pk"))


@pytest.fixture
def sim_identity(sim_identities: list[UserIdentity]) -> UserIdentity:
    return sim_identities[0]


@dataclass
class EngineOnAClock:
    """The engine as beat and a worker run it, on a simulated clock: every WEBADMIT_DISPATCH_EVERY seconds the
    dispatcher (`schedule.dispatch`) runs, and each refresh or key check it claims runs at once, as the plain
    functions the tasks call. Hours pass in seconds; the simulator answers over real HTTP."""

    now: datetime = field(default_factory=timezone.now)
    refreshes: list[tuple[datetime, RefreshOutcome]] = field(default_factory=list)
    key_checks: list[tuple[datetime, int, bool | None]] = field(default_factory=list)

    def step(self) -> None:
        now = self.now
        dispatched = schedule.dispatch(now)
        for identity_id in dispatched.identity_ids:
            self.refreshes.append((now, refresh_identity(identity_id, now=now)))
        for credential_id in dispatched.key_check_ids:
            self.key_checks.append((now, credential_id, healing.check_key(credential_id, now=now)))
        self.now = now + timedelta(seconds=settings.WEBADMIT_DISPATCH_EVERY)

    def run_for(self, seconds: float) -> None:
        until = self.now + timedelta(seconds=seconds)
        while self.now < until:
            self.step()

    def run_until(self, condition: Callable[[], object], within: float, what: str = "the condition") -> float:
        """Runs until `condition` holds; returns the simulated seconds it took."""
        started = self.now
        while not condition():
            if (self.now - started).total_seconds() > within:
                raise AssertionError(f"{what} did not happen within {within:.0f} simulated seconds")
            self.step()
        return (self.now - started).total_seconds()

    def calls_since(self, moment: datetime) -> int:
        return sum(outcome.calls for at, outcome in self.refreshes if at >= moment) + sum(
            1 for at, _, _ in self.key_checks if at >= moment
        )


@pytest.fixture
def engine_clock() -> EngineOnAClock:
    return EngineOnAClock()
