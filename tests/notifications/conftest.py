"""The notifications' test world: a simulated WebAdMIT over HTTP feeding the real engine, a real SMTP server and a
real webhook receiver on loopback, and subscriptions of the shared users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import pytest
from django.utils import timezone

from tests.support.mail import SmtpServer, WebhookReceiver
from tests.support.simulated import SimulatorControl
from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.engine import credentials
from webadmit_dash.engine.refresh import refresh_identity
from webadmit_dash.notifications.models import Webhook
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer

WEBHOOK_SECRET = "whsec-0123456789abcdef-notify"


@pytest.fixture
def world() -> SimulatedWorld:
    # Statuses move only when a test forces them.
    return SimulatedWorld(seed=12, identities=2, files_per_identity=4, pace=86_400, new_run_every=None)


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorControl:
    return SimulatorControl(simulator)


@dataclass
class Upstream:
    """WebAdMIT (the simulator) and our engine together: runs start and finish upstream, refreshes bring them in."""

    sim: SimulatorControl
    identities: list[UserIdentity]

    def refresh(self, identity: UserIdentity, now: datetime | None = None) -> None:
        UserIdentity.objects.filter(pk=identity.pk).update(refreshing_until=None)
        outcome = refresh_identity(identity.pk, now=now)
        assert outcome.outcome.value == "refreshed", outcome

    def new_run(self, identity: UserIdentity, now: datetime | None = None) -> ExportFile:
        """A run started upstream and seen by a refresh (Queued: not news yet)."""
        file_id = self.sim.add_run(identity.webadmit_id)
        self.refresh(identity, now)
        return ExportFile.objects.select_related("export").get(identity=identity, webadmit_id=file_id)

    def finish(self, export_file: ExportFile, status: str = "Available", now: datetime | None = None) -> None:
        self.sim.force(export_file.webadmit_id, status)
        self.refresh(export_file.identity, now)


@pytest.fixture
def upstream(sim: SimulatorControl, sim_credential) -> Upstream:
    """Identities imported and listed once (their first listing: history, not news)."""
    credentials.import_identities(sim_credential)
    identities = list(UserIdentity.objects.filter(credential=sim_credential).order_by("pk"))
    result = Upstream(sim, identities)
    for identity in identities:
        result.refresh(identity)
    return result


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.gate.set()
        server.stop()


@pytest.fixture
def mail_to_smtp(settings, smtp: SmtpServer) -> SmtpServer:
    for name, value in smtp.settings.items():
        setattr(settings, name, value)
    settings.SITE_URL = "https://dash.example.edu"
    return smtp


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def webhook(db, receiver: WebhookReceiver) -> Webhook:
    hook = Webhook(name="Ops channel", kind=Webhook.Kind.GENERIC)
    hook.set_url(receiver.url)
    hook.set_secret(WEBHOOK_SECRET)
    hook.save()
    return hook


def name_exports(sim: SimulatorControl, identity: UserIdentity, name: str) -> None:
    """Renames every export of the identity in (simulated) WebAdMIT, as a person there could, to any text at all;
    the next refresh reads the names again, as the hourly resync would."""
    world = sim.world
    with world._lock:
        renamed = [replace(export, name=name) for export in world._exports_of[identity.webadmit_id]]
        world._exports_of[identity.webadmit_id] = renamed
        world._exports.update({export.id: export for export in renamed})
    UserIdentity.objects.filter(pk=identity.pk).update(exports_checked_at=None, exports_synced_at=None)


@pytest.fixture
def now() -> datetime:
    return timezone.now()
