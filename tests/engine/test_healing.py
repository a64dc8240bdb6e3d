"""Pauses heal themselves: a rejected key or an identity WebAdMIT forgot is checked again by itself, less and less
often, and resumes the moment WebAdMIT accepts it; the banner says when the next check is, and goes by itself.

The engine runs on a simulated clock (`engine_clock`: the dispatcher every 5 s and the tasks it claims, as plain
functions) against the simulator over HTTP, so minutes of backoff pass in a second.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.urls import reverse

from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.engine import on_demand, schedule
from webadmit_dash.engine.refresh import Outcome

pytestmark = pytest.mark.django_db

REJECTED = Credential.Health.KEY_REJECTED


def all_refreshed_since(moment: datetime | None = None) -> bool:
    identities = UserIdentity.objects.all()
    if moment is None:
        return not identities.filter(last_success_at__isnull=True).exists()
    return not identities.exclude(last_success_at__gte=moment).exists()


def banner_html(client, admin_user) -> str:
    client.force_login(admin_user)
    return client.get(reverse("recent_files")).content.decode()


def test_a_key_rejected_for_30_s_resumes_every_identity_by_itself_at_the_first_check(
    sim_identities, sim, engine_clock, client, admin_user
):
    engine_clock.run_until(all_refreshed_since, within=120, what="the first sweep")
    sim.fault("key_rejected")  # WebAdMIT now answers 401 to every call with this key

    engine_clock.run_until(lambda: Credential.objects.get().health == REJECTED, within=120, what="the rejection")
    rejected_at = Credential.objects.get().last_checked_at
    assert all(identity.paused and identity.error_kind == "key_rejected" for identity in UserIdentity.objects.all())
    html = banner_html(client, admin_user)
    assert "WebAdMIT rejected the API key" in html
    first_check = rejected_at + timedelta(seconds=settings.WEBADMIT_PAUSE_CHECK_FIRST)
    assert f"WebAdMIT is asked again at {first_check:%H:%M}" in html

    engine_clock.run_for((rejected_at + timedelta(seconds=30) - engine_clock.now).total_seconds())
    sim.clear_faults()  # 30 s later, WebAdMIT accepts the key again; nobody touches the admin
    engine_clock.run_until(
        lambda: not UserIdentity.objects.filter(paused=True).exists(), within=600, what="the identities to resume"
    )

    resumed_at = engine_clock.now - timedelta(seconds=settings.WEBADMIT_DISPATCH_EVERY)  # the step that resumed
    assert (resumed_at - rejected_at).total_seconds() <= settings.WEBADMIT_PAUSE_CHECK_FIRST + 5, "the first check"
    assert Credential.objects.get().health == Credential.Health.OK
    assert not UserIdentity.objects.exclude(error_kind="").exists()
    # While paused, the key's check was the only call made with it: one cheap call.
    assert [result for at, _, result in engine_clock.key_checks] == [True]
    assert engine_clock.calls_since(rejected_at + timedelta(seconds=1)) == 1
    assert "rejected the API key" not in banner_html(client, admin_user)
    engine_clock.run_until(lambda: all_refreshed_since(resumed_at), within=120, what="refreshes after resuming")


def test_an_identity_webadmit_forgot_for_30_s_resumes_by_itself_while_the_others_go_on(
    sim_identities, sim, engine_clock, client, admin_user
):
    forgotten, *others = sim_identities
    engine_clock.run_until(all_refreshed_since, within=120, what="the first sweep")
    sim.fault("identity_not_found", forgotten.webadmit_id)

    engine_clock.run_until(
        lambda: UserIdentity.objects.get(pk=forgotten.pk).paused, within=120, what="the identity to pause"
    )
    paused_at = UserIdentity.objects.get(pk=forgotten.pk).last_attempt_at
    html = banner_html(client, admin_user)
    assert "WebAdMIT no longer knows this identity" in html
    assert "WebAdMIT is asked again at" in html
    engine_clock.run_for((paused_at + timedelta(seconds=30) - engine_clock.now).total_seconds())
    sim.clear_faults()
    engine_clock.run_until(
        lambda: not UserIdentity.objects.get(pk=forgotten.pk).paused, within=600, what="the identity to resume"
    )

    resumed_at = engine_clock.now - timedelta(seconds=settings.WEBADMIT_DISPATCH_EVERY)
    assert (resumed_at - paused_at).total_seconds() <= settings.WEBADMIT_PAUSE_CHECK_FIRST + 5
    identity = UserIdentity.objects.get(pk=forgotten.pk)
    assert (identity.error_kind, identity.consecutive_failures, identity.last_success_at) == ("", 0, resumed_at)
    # The paused identity was asked exactly once (its check); the others kept refreshing all along.
    paused_calls = [
        outcome.calls
        for at, outcome in engine_clock.refreshes
        if paused_at < at <= resumed_at and outcome.identity_id == forgotten.pk
    ]
    assert paused_calls == [1]
    others_refreshed = {
        outcome.identity_id
        for at, outcome in engine_clock.refreshes
        if paused_at < at < resumed_at and outcome.outcome is Outcome.REFRESHED
    }
    assert others_refreshed == {identity.pk for identity in others}
    assert "no longer knows" not in banner_html(client, admin_user)


@pytest.mark.slow
def test_a_key_still_rejected_is_checked_after_1_2_4_8_then_every_15_min_one_call_each(
    sim_identities, sim, engine_clock
):
    engine_clock.run_until(all_refreshed_since, within=120, what="the first sweep")
    sim.fault("key_rejected")
    engine_clock.run_until(lambda: Credential.objects.get().health == REJECTED, within=120, what="the rejection")
    rejected_at = Credential.objects.get().last_checked_at

    engine_clock.run_for(50 * 60)

    times = [rejected_at] + [at for at, _, _ in engine_clock.key_checks]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    steps = [60, 120, 240, 480, 900, 900]
    assert len(gaps) == len(steps), gaps
    for gap, step in zip(gaps, steps, strict=True):
        # Jittered 10 % early at most (never late), plus up to one dispatcher period.
        assert 0.9 * step - settings.WEBADMIT_DISPATCH_EVERY <= gap <= step + settings.WEBADMIT_DISPATCH_EVERY
    assert all(result is False for _, _, result in engine_clock.key_checks)
    assert engine_clock.calls_since(rejected_at + timedelta(seconds=1)) == len(steps), "one call per check"
    assert Credential.objects.get().failed_checks == len(steps)
    assert all(identity.paused for identity in UserIdentity.objects.all())


def test_a_paused_identitys_checks_back_off_and_it_stays_paused_for_its_own_reason(sim_identity, sim, engine_clock):
    engine_clock.run_until(all_refreshed_since, within=120, what="the first sweep")
    sim.fault("identity_not_found", sim_identity.webadmit_id)
    engine_clock.run_until(lambda: UserIdentity.objects.get(pk=sim_identity.pk).paused, within=120, what="a pause")
    engine_clock.run_for(2 * 60 + 10)  # the first check (after 1 min) fails while WebAdMIT is down, too
    sim.clear_faults()
    sim.fault("unavailable", sim_identity.webadmit_id)
    engine_clock.run_for(3 * 60)

    identity = UserIdentity.objects.get(pk=sim_identity.pk)
    assert (identity.paused, identity.error_kind) == (True, "not_found"), "the reason a person must act on"
    assert identity.consecutive_failures == 3  # the pause, then two failed checks
    wait = (identity.next_refresh_at - identity.last_attempt_at).total_seconds()
    assert 0.9 * 240 <= wait <= 240


def test_an_administrator_can_still_force_a_check_of_a_paused_identity_or_key(
    sim_identities, sim, engine_clock, client, admin_user
):
    engine_clock.run_until(all_refreshed_since, within=120, what="the first sweep")
    sim.fault("key_rejected")
    engine_clock.run_until(lambda: Credential.objects.get().health == REJECTED, within=120, what="the rejection")
    engine_clock.run_for(2 * 60)  # a failed check: the next is two minutes away
    sim.clear_faults()
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:dashboard_useridentity_changelist"),
        {"action": "check_now", "_selected_action": [sim_identities[0].pk]},
        follow=True,
    )

    assert "1 paused identities (or their key) will be checked within seconds" in response.content.decode()
    engine_clock.step()
    assert not UserIdentity.objects.filter(paused=True).exists()
    assert Credential.objects.get().health == Credential.Health.OK


def test_check_now_does_nothing_for_an_identity_paused_by_hand_or_not_paused(sim_identities):
    by_hand, healthy, _ = sim_identities
    UserIdentity.objects.filter(pk=by_hand.pk).update(paused=True)
    by_hand.refresh_from_db()

    assert not on_demand.check_now(by_hand)
    assert not on_demand.check_now(healthy)
    assert not schedule.due_identities(by_hand.created_at + timedelta(days=1)).filter(pk=by_hand.pk).exists()


def test_the_checks_count_against_the_keys_budget(credential, identity, other_identity):
    now = identity.created_at
    UserIdentity.objects.filter(pk=identity.pk).update(paused=True, error_kind="not_found", consecutive_failures=1)
    Credential.objects.filter(pk=credential.pk).update(health=REJECTED, failed_checks=2)
    UserIdentity.objects.filter(pk=other_identity.pk).update(paused=True, error_kind="key_rejected")

    demand = schedule._demands(now)[credential.pk]

    # The forgotten identity's check every minute, the key's every four; the key-paused identity waits for its key.
    assert demand.checks == pytest.approx(60 + 15)
    assert (demand.running, demand.settled_shared) == (0, 0)
