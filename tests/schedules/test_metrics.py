"""/metrics counts the schedules' slots by outcome (started, refused, skipped), each slot once."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from tests.schedules.conftest import DispatcherOnAClock, schedule_at
from tests.support.prometheus import Samples, parse, value

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULED = "webadmit_dash_scheduled_runs_total"


def scrape(client, settings) -> Samples:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network("127.0.0.1/32")]
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse(response.content.decode())


def test_slots_are_counted_by_outcome(sim_export, client, settings):
    before = scrape(client, settings)
    for outcome in ("started", "refused", "skipped"):  # there from the first scrape, so rate() works at once
        assert value(before, SCHEDULED, outcome=outcome) >= 0
    start = datetime(2026, 3, 9, 9, 58, tzinfo=UTC)
    schedule_at(sim_export, start, kind="daily", times="06:00")
    late = schedule_at(sim_export, start - timedelta(days=2), kind="weekdays", times="06:00")
    assert late.next_run_at is not None

    DispatcherOnAClock(now=start + timedelta(hours=7)).step()  # both 06:00s are now 7 hours old: skipped
    DispatcherOnAClock(now=start + timedelta(days=1, minutes=5)).step()  # the next 06:00s, on time: started

    after = scrape(client, settings)
    assert value(after, SCHEDULED, outcome="skipped") - value(before, SCHEDULED, outcome="skipped") == 2
    assert value(after, SCHEDULED, outcome="started") - value(before, SCHEDULED, outcome="started") == 2
