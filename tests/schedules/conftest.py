"""Schedules' test world: an export of the simulated identity, the institution in New York, the dispatcher on a
fake clock (the real `dispatch` function, stepped; E4 answered by the simulator over HTTP); and for the callbacks,
WEBADMIT_CALLBACKS on and a run started here (Run again), whose RunRequest holds the token WebAdMIT was given."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.test import Client

from tests.support.simulated import SimulatorControl
from tests.support.waiting import eventually
from webadmit_dash.core.models import Export, ExportFile, RunRequest, UserIdentity
from webadmit_dash.engine import on_demand
from webadmit_dash.engine.refresh import refresh_identity
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


@pytest.fixture
def callbacks_on(settings) -> None:
    settings.WEBADMIT_CALLBACKS = True
    settings.WEBADMIT_CALLBACKS_PER_MINUTE = 60
    # Nothing listens there: the simulator's calls about runs a test finishes fail quietly (the tests that want them
    # to arrive point SITE_URL at a live server).
    settings.SITE_URL = "http://127.0.0.1:9"


def start_here(identity: UserIdentity, user=None) -> RunRequest:
    """Run again on one of the identity's files (refreshed first, so there is one): WebAdMIT starts a run (or
    answers with the one under way), which stays unfinished until a test forces it (the world's pace is a day)."""
    if not ExportFile.objects.filter(identity=identity).exists():
        refresh_identity(identity.pk)
    export_file = ExportFile.objects.filter(identity=identity).order_by("webadmit_id").first()
    assert export_file is not None
    started = on_demand.start_run(export_file, user)
    return RunRequest.objects.get(pk=RunRequest.objects.filter(run_id=started.file_pk).latest("pk").pk)


@pytest.fixture
def started(callbacks_on: None, sim_identity: UserIdentity, admin_user) -> RunRequest:
    run_request = start_here(sim_identity, admin_user)
    assert run_request.callback_token, "a run started with WEBADMIT_CALLBACKS on was given a token"
    return run_request


def call_back(client: Client, run_request: RunRequest, status: str = "Available", *, token: str | None = None, **extra):
    """WebAdMIT's call, as the SPEC shows it: form-encoded, the run's ids and a status."""
    fields = {
        "export_file[id]": str(run_request.run_webadmit_id),
        "export_file[export_id]": str(run_request.export_webadmit_id),
        "export_file[status]": status,
    }
    return client.post(f"/webadmit/callback/{token or run_request.callback_token}/", fields, **extra)


CLOCK = r"\d\d:\d\d:\d\d"


def callback_words(html: str, pk: int) -> str:
    """What a row of the page says of its run's callback ("" when nothing)."""
    found = re.search(rf'<span class="file__callback" id="callback-{pk}"[^>]*>(.*?)</span>', html)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""


def the_call_arrived(run_request: RunRequest, sim: SimulatorControl) -> list[dict]:
    """Waits for the simulator's call about a run started here to be stamped, its refresh queued and the call
    recorded by the simulator; returns the simulator's record of its recent calls."""
    eventually(
        lambda: RunRequest.objects.get(pk=run_request.pk).callback_received_at, timeout=10, what="the simulator's call"
    )
    # The stamp is written before the refresh is asked for: look again until both are there.
    eventually(
        lambda: UserIdentity.objects.get(pk=run_request.identity_id).refresh_queued_at,
        timeout=5,
        what="a refresh queued",
    )
    return eventually(lambda: sim.server.app.callbacks.summary()["recent"], timeout=5, what="the call's record")
