"""The whole running system for browser tests: the live Django server, a simulated WebAdMIT over HTTP, a real
Celery worker with beat, and Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.support.browser import browser, page  # noqa: F401 - the shared fixtures, re-exported
from tests.support.stack import Stack, installed_stack
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.core.models import UserIdentity
from webadmit_dash.simulator.data import SimulatedWorld

pytestmark = pytest.mark.browser


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
    with installed_stack(live_server.url, world, refreshed=True) as stack:
        yield stack


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
