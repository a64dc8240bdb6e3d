"""The whole running system for browser tests: the live Django server, a simulated WebAdMIT over HTTP, a real
Celery worker with beat, and Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.core.cache import cache
from django.utils import timezone

from tests.support.browser import browser, page  # noqa: F401 - the shared fixtures, re-exported
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.engine import credentials, refresh, schedule
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer

pytestmark = pytest.mark.browser

SIMULATOR_KEY = "7c3e1a9b5d2f4e6a8b0c1d2e3f4a5b6c"
PASSWORD = "correct horse battery staple"


@dataclass
class Stack:
    base_url: str
    simulator: SimulatorServer
    world: SimulatedWorld
    credential: Credential
    identities: list[UserIdentity]
    user: User
    password: str = PASSWORD

    def control(self, method: str, path: str, **body: Any) -> dict[str, Any]:
        """The simulator's control API, over HTTP as any client of it."""
        response = requests.request(method, f"{self.simulator.base_url}/_simulator/{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear()  # the live server runs in this process: no counts cached by an earlier test
    yield


@pytest.fixture
def world() -> SimulatedWorld:
    # Statuses move only when a test forces them; a mix of every status from the start.
    return SimulatedWorld(seed=7, identities=3, files_per_identity=7, pace=86_400, new_run_every=None)


@pytest.fixture
def stack(live_server, world: SimulatedWorld) -> Iterator[Stack]:
    """Everything but the worker: a signed-up superuser, a credential on the simulator, identities refreshed once."""
    with SimulatorServer(world, api_keys=[SIMULATOR_KEY]) as simulator:
        credential = Credential(name="Admissions office", base_url=simulator.base_url)
        credential.set_api_key(SIMULATOR_KEY)
        credential.save()
        credentials.import_identities(credential)
        identities = list(UserIdentity.objects.filter(credential=credential).order_by("pk"))
        for identity in identities:
            refresh.refresh_identity(identity.pk)
        schedule.record_heartbeat(timezone.now())
        user = User.objects.create_superuser("morgan", "morgan@example.edu", PASSWORD)
        yield Stack(live_server.url, simulator, world, credential, identities, user)


@pytest.fixture
def engine(stack: Stack) -> Iterator[CeleryWorker]:
    """A real worker with embedded beat, dispatching every second and refreshing every identity every 1-2 s."""
    UserIdentity.objects.update(fast_interval=1, slow_interval=2, next_refresh_at=timezone.now())
    purge_queue()
    worker = CeleryWorker(beat=True, env={"WEBADMIT_DISPATCH_EVERY": "1"}, name="browser-test")
    try:
        yield worker.start()
    finally:
        worker.close()
