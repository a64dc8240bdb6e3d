"""/metrics tells the IT admin how collection fares: bytes collected and deliveries by destination and outcome
(counted by whichever process did the work), files by state and the oldest file not yet delivered (read at scrape)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.factories import make_file
from tests.support.prometheus import Samples, parse, value
from webadmit_dash.collection import signals
from webadmit_dash.collection.models import CollectedFile, Destination, FileDelivery

BYTES = "webadmit_dash_collected_bytes_total"
DELIVERIES = "webadmit_dash_deliveries_total"
BY_STATE = "webadmit_dash_collected_files"
OLDEST = "webadmit_dash_oldest_undelivered_seconds"

pytestmark = pytest.mark.django_db


@pytest.fixture
def scrape(client, settings) -> Callable[[], Samples]:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network("127.0.0.1/32")]

    def read() -> Samples:
        response = client.get("/metrics")
        assert response.status_code == 200
        return parse(response.content.decode())

    return read


def collected_file(identity, state: str, *, ready_ago: timedelta) -> CollectedFile:
    export_file = make_file(identity)
    return CollectedFile.objects.create(
        export_file=export_file,
        identity=identity,
        file_webadmit_id=export_file.webadmit_id,
        export_webadmit_id=export_file.export_webadmit_id,
        export_name=export_file.export_name,
        state=state,
        finished_at=timezone.now() - ready_ago,
    )


def test_bytes_and_deliveries_are_counted_as_collection_tells_them(scrape):
    before = scrape()
    signals.file_collected.send(sender=CollectedFile, size=5_000_000)
    signals.file_collected.send(sender=CollectedFile, size=1_234)
    for outcome in ("retrying", "retrying", "delivered"):
        signals.delivery_attempted.send(sender=FileDelivery, destination="Slate SFTP", outcome=outcome)
    signals.delivery_attempted.send(sender=FileDelivery, destination="Registrar share", outcome="failed")
    after = scrape()

    assert value(after, BYTES) - value(before, BYTES) == 5_001_234

    def moved(destination: str, outcome: str) -> float:
        labels = {"destination": destination, "outcome": outcome}
        return value(after, DELIVERIES, **labels) - value(before, DELIVERIES, **labels)

    assert moved("Slate SFTP", "retrying") == 2
    assert moved("Slate SFTP", "delivered") == 1
    assert moved("Registrar share", "failed") == 1


def test_files_by_state_and_the_oldest_undelivered_are_read_at_scrape_time(scrape, identity):
    assert value(scrape(), OLDEST) == 0  # nothing waits
    collected_file(identity, CollectedFile.State.COLLECTED, ready_ago=timedelta(hours=3))
    collected_file(identity, CollectedFile.State.PRUNED, ready_ago=timedelta(days=40))
    waiting = collected_file(identity, CollectedFile.State.WAITING, ready_ago=timedelta(minutes=10))
    samples = scrape()
    assert value(samples, BY_STATE, state="waiting") == 1
    assert value(samples, BY_STATE, state="collected") == 1
    assert value(samples, BY_STATE, state="pruned") == 1
    assert value(samples, BY_STATE, state="failed") == 0  # every state is there, 0 or not
    assert 600 <= value(samples, OLDEST) < 660

    # A delivery owed for longer than any file has waited is now the oldest; a delivered one is not counted.
    destination = Destination.objects.create(name="Slate SFTP", kind=Destination.Kind.FOLDER, path="/srv/outbox")
    collected = collected_file(identity, CollectedFile.State.COLLECTED, ready_ago=timedelta(hours=2))
    FileDelivery.objects.create(
        collected=collected, destination=destination, file_name="a.csv", created_at=timezone.now() - timedelta(hours=1)
    )
    FileDelivery.objects.create(
        collected=collected,
        destination=destination,
        round=2,
        file_name="a.csv",
        state=FileDelivery.State.DELIVERED,
        created_at=timezone.now() - timedelta(days=2),
    )
    assert 3600 <= value(scrape(), OLDEST) < 3660

    CollectedFile.objects.filter(pk=waiting.pk).update(state=CollectedFile.State.COLLECTED)
    FileDelivery.objects.update(state=FileDelivery.State.DELIVERED)
    assert value(scrape(), OLDEST) == 0
