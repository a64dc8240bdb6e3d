"""Fresher when settled, within the budget: identities whose files are all settled are refreshed as often as the
key's settled share (WEBADMIT_SETTLED_SHARE, 25 % of its hourly limit) allows, never more often than the floor
(WEBADMIT_SLOW_FLOOR, 30 s), and never spending more than that share, their hourly E3 resyncs included (up to the
hour cap: past about 600 settled identities on one key, refreshing slows to hourly but never stops)."""

from __future__ import annotations

import random

import pytest
from django.conf import settings
from django.utils import timezone

from webadmit_dash.core.models import Credential, ExportFile, UserIdentity
from webadmit_dash.engine import schedule
from webadmit_dash.simulator.data import SimulatedWorld

pytestmark = pytest.mark.django_db


def settled_demand(count: int) -> schedule.Demand:
    return schedule.Demand(settled_shared=count)


@pytest.mark.parametrize(
    ("identities", "interval"),
    [(1, 30), (6, 30), (10, 30), (50, 150), (200, 3600 * 200 / 1050), (600, 3600 * 600 / 650), (1000, 3600)],
)
def test_the_settled_cadence_shrinks_to_the_floor_while_the_share_allows(credential, identities, interval):
    now = timezone.now()

    seconds = schedule.shared_settled_interval(credential, settled_demand(identities), now)

    assert seconds == pytest.approx(interval)
    calls_per_hour = identities * 3600 / seconds + identities  # E6 at the cadence, E3 hourly
    if seconds < 3600:  # the hour cap: refreshing slows, but never stops
        assert calls_per_hour <= 0.25 * 5000 + 1e-6, "never more than the settled share"


def test_identities_with_their_own_settled_cadence_spend_the_share_first(credential):
    # 10 identities every 60 s spend 600 of the 1,250 calls, the 60 identities' resyncs 60; 50 share the other 590.
    demand = schedule.Demand(settled_own=10 * 60, settled_own_count=10, settled_shared=50)

    seconds = schedule.shared_settled_interval(credential, demand, timezone.now())

    assert seconds == pytest.approx(3600 * 50 / 590)


def test_a_key_someone_else_is_spending_shrinks_the_share_too(credential):
    now = timezone.now()
    credential.rate_limit_remaining, credential.rate_limit_seen_at = 375, now  # half of the low-water mark left

    assert schedule.shared_settled_interval(credential, settled_demand(50), now) == pytest.approx(3600 * 50 / 575)


def test_the_share_and_the_floor_are_settings(credential, settings):
    settings.WEBADMIT_SETTLED_SHARE, settings.WEBADMIT_SLOW_FLOOR = 50, 10

    assert schedule.shared_settled_interval(credential, settled_demand(6), timezone.now()) == 10
    assert schedule.shared_settled_interval(credential, settled_demand(50), timezone.now()) == pytest.approx(
        3600 * 50 / 2450
    )


def test_the_dispatcher_gives_each_key_its_settled_cadence_and_refreshes_follow_it(credential, identity):
    now = timezone.now()
    schedule.update_cadence_factors(now)

    credential.refresh_from_db()
    assert credential.settled_interval == settings.WEBADMIT_SLOW_FLOOR
    identity.refresh_from_db()
    delay = (schedule.next_refresh_at(identity, running=False, now=now) - now).total_seconds()
    assert 27 <= delay <= 33


@pytest.mark.slow
class TestDemoSettingsAllSettled:
    """`make run`'s numbers: 6 identities on one key, every file settled, the site defaults."""

    @pytest.fixture
    def world(self) -> SimulatedWorld:
        return SimulatedWorld(
            seed=3, identities=6, files_per_identity=8, pace=86_400, new_run_every=None, initial="settled"
        )

    def test_a_change_upstream_shows_within_45_s(self, sim_identities, world, engine_clock):
        assert not ExportFile.objects.exists()
        engine_clock.run_for(10 * 60)  # steady state
        assert Credential.objects.get().settled_interval == 30
        assert not ExportFile.objects.exclude(status__in=["available", "success_with_errors", "empty_list", "failed"])
        rng = random.Random(7)
        latencies = []
        for _ in range(24):
            engine_clock.run_for(rng.uniform(0, 30))  # changes land anywhere in the cadence
            identity = rng.choice(sim_identities)
            state = rng.choice(world.files(identity.webadmit_id))
            new_status = "Failed" if state.status != "failed" else "Empty List"
            world.force_status(state.id, new_status)
            changed_at = engine_clock.now

            def seen(file_id: int = state.id, before: str = state.status) -> bool:
                return ExportFile.objects.get(identity__in=sim_identities, webadmit_id=file_id).status != before

            engine_clock.run_until(seen, within=120, what="the change")
            latencies.append((engine_clock.now - changed_at).total_seconds())

        assert max(latencies) <= 45, sorted(latencies)
        assert UserIdentity.objects.filter(paused=False).count() == 6
