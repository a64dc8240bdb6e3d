"""The installation the browser tests look at: a simulated WebAdMIT over HTTP, a credential on it with its identities
imported, and a signed-up superuser, served by the live Django server.

    with installed_stack(live_server.url, world, refreshed=True) as stack:  # in a fixture
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from django.contrib.auth.models import User
from django.utils import timezone

from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.engine import credentials, refresh, schedule
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer

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


@contextlib.contextmanager
def installed_stack(base_url: str, world: SimulatedWorld, *, refreshed: bool) -> Iterator[Stack]:
    """Everything but the worker; with `refreshed`, each identity refreshed once and beat's heartbeat recorded,
    without it a fresh installation whose first refresh has not come yet."""
    with SimulatorServer(world, api_keys=[SIMULATOR_KEY]) as simulator:
        credential = Credential(name="Admissions office", base_url=simulator.base_url)
        credential.set_api_key(SIMULATOR_KEY)
        credential.save()
        credentials.import_identities(credential)
        identities = list(UserIdentity.objects.filter(credential=credential).order_by("pk"))
        if refreshed:
            for identity in identities:
                refresh.refresh_identity(identity.pk)
            schedule.record_heartbeat(timezone.now())
        user = User.objects.create_superuser("morgan", "morgan@example.edu", PASSWORD)
        yield Stack(base_url, simulator, world, credential, identities, user)
