"""The scheduler as plain functions: cadence, backoff, the rate budget, what is due, and "Refresh now"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from webadmit_dash.core.models import Credential, EngineHeartbeat, ExportFile, UserIdentity
from webadmit_dash.engine import on_demand, schedule
from webadmit_dash.engine.tasks import dispatch_due_refreshes

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now()


def make_identities(credential: Credential, count: int, **fields) -> list[UserIdentity]:
    return UserIdentity.objects.bulk_create(
        UserIdentity(credential=credential, webadmit_id=900_000 + n, **fields) for n in range(count)
    )


def add_file(identity: UserIdentity, status: str, number: int = 1) -> ExportFile:
    return ExportFile.objects.create(
        identity=identity, webadmit_id=number, export_webadmit_id=1, href="/x", status=status, raw_status=status
    )


def seconds(delta: timedelta) -> float:
    return delta.total_seconds()


# --- Cadence ---------------------------------------------------------------------------------------------------


def test_fast_while_a_file_runs_and_slow_when_all_are_settled(identity, now, settings):
    settings.WEBADMIT_FAST_INTERVAL = 15
    identity.credential.settled_interval = 300  # what the key's settled share allows

    assert schedule.base_interval(identity, running=True, now=now) == 15
    assert schedule.base_interval(identity, running=False, now=now) == 300


def test_an_identity_overrides_the_site_cadence(identity, now):
    identity.fast_interval, identity.slow_interval = 5, 60

    assert schedule.base_interval(identity, running=True, now=now) == 5
    assert schedule.base_interval(identity, running=False, now=now) == 60


def test_a_run_just_started_keeps_the_fast_cadence_before_webadmit_lists_it(identity, now, settings):
    settings.WEBADMIT_FAST_INTERVAL = 15
    Credential.objects.filter(pk=identity.credential_id).update(settled_interval=300)
    identity.next_refresh_at = now + timedelta(minutes=5)
    identity.save()

    on_demand.note_run_started(identity, now)

    identity.refresh_from_db()
    assert identity.next_refresh_at == now + timedelta(seconds=15)
    assert schedule.base_interval(identity, running=False, now=now + timedelta(seconds=30)) == 15
    assert schedule.base_interval(identity, running=False, now=now + timedelta(minutes=3)) == 300


def test_jitter_spreads_the_next_refresh_within_ten_percent(identity, now):
    identity.credential.settled_interval = 300
    delays = {seconds(schedule.next_refresh_at(identity, running=False, now=now) - now) for _ in range(200)}

    assert min(delays) >= 270 and max(delays) <= 330
    assert len(delays) > 100, "identities imported together must not fire together"


def test_the_credentials_stretch_slows_the_cadence_but_never_beyond_an_hour(identity, now, settings):
    settings.WEBADMIT_FAST_INTERVAL = 15
    identity.credential.settled_interval = 600
    identity.credential.cadence_factor = 3.0
    assert 40 <= seconds(schedule.next_refresh_at(identity, running=True, now=now) - now) <= 50

    identity.credential.cadence_factor = 20.0
    assert seconds(schedule.next_refresh_at(identity, running=False, now=now) - now) <= 3600 * 1.1


def test_backoff_doubles_from_the_fast_interval_with_jitter_and_is_capped(identity, settings):
    settings.WEBADMIT_FAST_INTERVAL = 15
    for failures, ceiling in [(1, 15), (2, 30), (3, 60), (4, 120), (10, 900), (50, 900)]:
        delays = [seconds(schedule.backoff_delay(identity, failures)) for _ in range(50)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling, failures
        assert len(set(delays)) > 1


def test_a_rate_limit_waits_as_long_as_webadmit_says(identity):
    assert schedule.rate_limited_wait(identity, 42.0, failures=1) == timedelta(seconds=42)
    assert schedule.rate_limited_wait(identity, None, failures=1) >= timedelta(seconds=60)


# --- The rate budget ---------------------------------------------------------------------------------------------


def test_fifty_identities_all_running_are_stretched_to_fit_the_budget(credential, now, settings):
    settings.WEBADMIT_FAST_INTERVAL = 15
    for identity in make_identities(credential, 50):
        add_file(identity, "in_progress")

    schedule.update_cadence_factors(now)

    credential.refresh_from_db()
    unstretched = 50 * 3600 / 15  # 12,000 calls an hour
    assert credential.cadence_factor == pytest.approx(unstretched / (0.8 * 5000))
    refreshes = 50 * 3600 / (15 * credential.cadence_factor)
    assert refreshes == pytest.approx(4000)
    assert refreshes + 50 * 1 < 5000, "with each identity's hourly E3 resync, still under budget"


def test_identities_that_fit_the_budget_are_not_stretched(credential, now):
    for identity in make_identities(credential, 50):
        add_file(identity, "available")

    schedule.update_cadence_factors(now)

    credential.refresh_from_db()
    assert credential.cadence_factor == 1.0


def test_a_low_remaining_budget_stretches_further_and_a_stale_one_is_ignored(credential, now):
    credential.rate_limit_remaining = 150  # 3% of 5,000 left: someone else is spending this key
    credential.rate_limit_seen_at = now

    assert schedule.cadence_factor(credential, 1000, now) == pytest.approx(1000 / (4000 * 150 / 750))
    assert schedule.cadence_factor(credential, 1000, now + timedelta(hours=2)) == 1.0
    credential.rate_limit_remaining = 0
    assert schedule.cadence_factor(credential, 12_000, now) == schedule.MAX_STRETCH


def test_the_budget_follows_the_credentials_own_limit(credential, now):
    credential.rate_limit_per_hour = 1000

    assert schedule.cadence_factor(credential, 1600, now) == pytest.approx(2.0)


def test_new_credentials_take_the_site_wide_budget(settings):
    settings.WEBADMIT_RATE_LIMIT_PER_HOUR = 1000

    assert Credential(name="New").rate_limit_per_hour == 1000


def test_rate_samples_are_stored_once_a_minute_unless_the_budget_runs_low(credential, now):
    assert schedule.should_store_rate_sample(credential, 4990, now)
    credential.rate_limit_remaining, credential.rate_limit_seen_at = 4990, now

    assert not schedule.should_store_rate_sample(credential, 4980, now + timedelta(seconds=10))
    assert schedule.should_store_rate_sample(credential, 4900, now + timedelta(seconds=61))
    assert schedule.should_store_rate_sample(credential, 100, now + timedelta(seconds=10))
    assert not schedule.should_store_rate_sample(credential, None, now + timedelta(minutes=5))


# --- What is due -------------------------------------------------------------------------------------------------


def test_due_identities_are_the_enabled_unpaused_idle_ones_whose_time_has_come(credential, now):
    never, due, later, paused, disabled, queued, stale_queue, running, crashed = make_identities(credential, 9)
    UserIdentity.objects.filter(pk=due.pk).update(next_refresh_at=now - timedelta(seconds=1))
    UserIdentity.objects.filter(pk=later.pk).update(next_refresh_at=now + timedelta(seconds=1))
    UserIdentity.objects.filter(pk=paused.pk).update(paused=True)
    UserIdentity.objects.filter(pk=disabled.pk).update(enabled=False)
    UserIdentity.objects.filter(pk=queued.pk).update(refresh_queued_at=now - timedelta(seconds=30))
    UserIdentity.objects.filter(pk=stale_queue.pk).update(refresh_queued_at=now - timedelta(minutes=5))
    UserIdentity.objects.filter(pk=running.pk).update(refreshing_until=now + timedelta(seconds=30))
    UserIdentity.objects.filter(pk=crashed.pk).update(refreshing_until=now - timedelta(seconds=1))

    due_ids = list(schedule.due_identities(now).values_list("pk", flat=True))

    assert set(due_ids) == {never.pk, due.pk, stale_queue.pk, crashed.pk}
    assert due_ids[0] in {never.pk, stale_queue.pk, crashed.pk}, "never refreshed comes first"


def test_nothing_is_due_for_a_rejected_key_or_a_credential_backing_off(credential, now):
    make_identities(credential, 3)
    Credential.objects.filter(pk=credential.pk).update(backoff_until=now + timedelta(seconds=30))
    assert not schedule.due_identities(now).exists()
    assert schedule.due_identities(now + timedelta(seconds=31)).count() == 3

    Credential.objects.filter(pk=credential.pk).update(backoff_until=None, health=Credential.Health.KEY_REJECTED)
    assert not schedule.due_identities(now).exists()


def test_refresh_now_and_the_dispatcher_hold_identities_to_one_eligibility(credential, now):
    """What any refresh needs is written once (schedule.eligible); Refresh now adds "not paused", the dispatcher
    "due, idle, key not rejected"."""
    idle, disabled, queued, stale_queue = make_identities(credential, 4)
    UserIdentity.objects.filter(pk=disabled.pk).update(enabled=False)
    UserIdentity.objects.filter(pk=queued.pk).update(refresh_queued_at=now - timedelta(seconds=30))
    UserIdentity.objects.filter(pk=stale_queue.pk).update(refresh_queued_at=now - timedelta(minutes=5))

    eligible = set(UserIdentity.objects.filter(schedule.eligible(now)).values_list("pk", flat=True))

    assert eligible == {idle.pk, stale_queue.pk}
    assert set(schedule.queueable(now).values_list("pk", flat=True)) == eligible
    assert set(schedule.due_identities(now).values_list("pk", flat=True)) == eligible
    Credential.objects.filter(pk=credential.pk).update(backoff_until=now + timedelta(seconds=30))
    assert not UserIdentity.objects.filter(schedule.eligible(now)).exists()


def test_the_dispatcher_queues_each_due_identity_once_and_records_its_heartbeat(
    credential, django_capture_on_commit_callbacks
):
    make_identities(credential, 3)

    with django_capture_on_commit_callbacks() as callbacks:
        first = dispatch_due_refreshes()
        second = dispatch_due_refreshes()

    assert (first, second) == (3, 0)
    assert len(callbacks) == 3, "one task per identity, sent after commit"
    assert UserIdentity.objects.filter(refresh_queued_at__isnull=False).count() == 3
    assert EngineHeartbeat.objects.get().beat_at == EngineHeartbeat.last_beat()


# --- Refresh now ---------------------------------------------------------------------------------------------------


def test_refresh_now_enqueues_once_even_when_asked_twice(identity, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert on_demand.request_refresh(identity) is True
        assert on_demand.request_refresh(identity) is False

    assert len(callbacks) == 1
    identity.refresh_from_db()
    assert identity.refresh_queued_at is not None


def test_refresh_now_can_be_asked_again_when_the_queued_task_was_lost(identity, now):
    UserIdentity.objects.filter(pk=identity.pk).update(refresh_queued_at=now - timedelta(minutes=10))

    assert on_demand.request_refresh(identity, now=now) is True


def test_refresh_now_does_nothing_for_a_paused_identity(identity, django_capture_on_commit_callbacks):
    UserIdentity.objects.filter(pk=identity.pk).update(paused=True)

    with django_capture_on_commit_callbacks() as callbacks:
        assert on_demand.request_refresh(identity) is False

    assert callbacks == []


def test_refresh_now_waits_out_a_rate_limit(identity, now):
    Credential.objects.filter(pk=identity.credential_id).update(backoff_until=now + timedelta(seconds=30))

    assert on_demand.request_refresh(identity, now=now) is False
    assert on_demand.request_refresh(identity, now=now + timedelta(seconds=31)) is True


def test_the_admin_refresh_now_action_queues_once_and_says_what_it_did_not(
    client, admin_user, identity, other_identity, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    UserIdentity.objects.filter(pk=other_identity.pk).update(paused=True)
    url = reverse("admin:dashboard_useridentity_changelist")
    selected = {"action": "refresh_now", "_selected_action": [identity.pk, other_identity.pk]}

    with django_capture_on_commit_callbacks() as callbacks:
        first = client.post(url, selected, follow=True)
        second = client.post(url, selected, follow=True)

    assert len(callbacks) == 1
    first_messages = [str(message) for message in first.context["messages"]]
    assert first_messages[0] == "Refresh queued for 1 of 2 identities."
    assert first_messages[1].startswith("1 not queued: a refresh is already queued, the identity is paused")
    second_messages = [str(message) for message in second.context["messages"]]
    assert second_messages == [first_messages[1].replace("1 not queued", "2 not queued")]
