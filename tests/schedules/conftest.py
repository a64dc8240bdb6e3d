"""Schedules' test world: an export of the simulated identity, the institution in New York, and the dispatcher on a
fake clock (the real `dispatch` function, stepped; E4 answered by the simulator over HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from tests.support.simulated import SimulatorControl
from webadmit_dash.core.models import Export, UserIdentity
from webadmit_dash.schedules import dispatch, timing
from webadmit_dash.schedules.models import Schedule
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer


@pytest.fixture(autouse=True)
def new_york(settings) -> None:
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def sim_export(sim_identity: UserIdentity, world: SimulatedWorld) -> Export:
    upstream = world.exports(sim_identity.webadmit_id)[0]
    return Export.objects.create(identity=sim_identity, webadmit_id=upstream.id, name=upstream.name)


@pytest.fixture
def export(identity: UserIdentity) -> Export:
    """An export of the (unreachable) test identity, for pages and forms that never call WebAdMIT."""
    return Export.objects.create(identity=identity, webadmit_id=4242, name="Applicants - nightly")


def schedule_at(export: Export, now: datetime, **fields: object) -> Schedule:
    """A schedule saved as of `now` (saving plans from the real clock; the fake clock's tests plan from theirs)."""
    schedule = Schedule.objects.create(export=export, **fields)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timing.next_slot(schedule, now))
    schedule.refresh_from_db()
    return schedule


@dataclass
class DispatcherOnAClock:
    """Beat on a fake clock: `dispatch(now)` every `every`, recording what each turn dealt with."""

    now: datetime
    every: timedelta = timedelta(minutes=5)
    dealt: list[dispatch.Dealt] = field(default_factory=list)

    def step(self) -> None:
        self.dealt.extend(dispatch.dispatch(self.now))
        self.now += self.every

    def run_until(self, until: datetime) -> None:
        while self.now <= until:
            self.step()


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorControl:
    return SimulatorControl(simulator)
