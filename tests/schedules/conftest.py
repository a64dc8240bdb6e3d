"""The callbacks' test world: a simulated WebAdMIT over real HTTP, WEBADMIT_CALLBACKS on, and a run started here
(Run again), whose RunRequest holds the token WebAdMIT was given."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.simulated import SimulatorControl
from webadmit_dash.core.models import ExportFile, RunRequest, UserIdentity
from webadmit_dash.engine import on_demand
from webadmit_dash.engine.refresh import refresh_identity
from webadmit_dash.simulator.server import SimulatorServer


@pytest.fixture
def callbacks_on(settings) -> None:
    settings.WEBADMIT_CALLBACKS = True
    settings.WEBADMIT_CALLBACKS_PER_MINUTE = 60
    # Nothing listens there: the simulator's calls about runs a test finishes fail quietly (the tests that want them
    # to arrive point SITE_URL at a live server).
    settings.SITE_URL = "http://127.0.0.1:9"


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorControl:
    return SimulatorControl(simulator)


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
