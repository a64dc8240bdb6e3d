"""One refresh, in-process, against the simulated WebAdMIT over real HTTP: lock, calls, apply, state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.conftest import SIMULATOR_KEY
from webadmit_dash.core.models import Credential, ExportFile, StatusChange, UserIdentity
from webadmit_dash.engine import credentials, schedule
from webadmit_dash.engine.refresh import Outcome, lock_ttl, refresh_identity

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE")


def reload(identity: UserIdentity) -> UserIdentity:
    return UserIdentity.objects.select_related("credential").get(pk=identity.pk)


def statuses(identity: UserIdentity) -> dict[int, str]:
    return dict(ExportFile.objects.filter(identity=identity).values_list("webadmit_id", "status"))


def test_a_first_refresh_stores_every_listed_file_with_its_exports_name(sim_identity, sim):
    outcome = refresh_identity(sim_identity.pk)

    assert outcome.outcome is Outcome.REFRESHED
    assert outcome.calls == 2, "E6, then E3 for the export names"
    files = ExportFile.objects.filter(identity=sim_identity).select_related("export")
    assert sorted(file.webadmit_id for file in files) == sorted(sim.file_ids(sim_identity.webadmit_id))
    assert all(file.export and file.export.name for file in files)
    identity = reload(sim_identity)
    assert identity.last_success_at == identity.last_attempt_at and identity.error_kind == ""
    assert identity.next_refresh_at > identity.last_success_at


def test_an_unchanged_refresh_makes_one_call_and_four_queries_and_writes_only_the_identity(sim_identity):
    refresh_identity(sim_identity.pk)
    refresh_identity(sim_identity.pk)  # the rate-limit sample is now fresh, as in steady state

    with CaptureQueriesContext(connection) as queries:
        outcome = refresh_identity(sim_identity.pk)

    assert outcome.calls == 1 and not outcome.applied.changed
    assert len(queries) <= 4, [query["sql"] for query in queries]
    writes = [query["sql"] for query in queries if query["sql"].startswith(WRITES)]
    assert len(writes) == 2 and all(sql.startswith('UPDATE "dashboard_useridentity"') for sql in writes), (
        "the lock taken, then released with the timestamps: one row"
    )


def test_statuses_move_through_their_lifecycle_with_one_history_row_per_step(sim_identity, sim):
    refresh_identity(sim_identity.pk)
    file_id = sim.add_run(sim_identity.webadmit_id)

    seen = []
    for status in ["Queued", "In Progress", "Available"]:
        refresh_identity(sim_identity.pk)
        seen.append(statuses(sim_identity)[file_id])
        sim.force(file_id, status)
    refresh_identity(sim_identity.pk)
    seen.append(statuses(sim_identity)[file_id])

    assert seen == ["initializing", "queued", "in_progress", "available"]
    steps = StatusChange.objects.filter(export_file__webadmit_id=file_id).order_by("id")
    assert [(step.old_status, step.new_status) for step in steps] == [
        ("", "initializing"),
        ("initializing", "queued"),
        ("queued", "in_progress"),
        ("in_progress", "available"),
    ]


def test_the_cadence_follows_the_files_fast_while_running_slow_when_settled(sim_identity, sim, settings):
    settings.WEBADMIT_FAST_INTERVAL = 15
    # The settled cadence the dispatcher found the key's budget allows.
    Credential.objects.filter(pk=sim_identity.credential_id).update(settled_interval=300)
    for file_id in sim.file_ids(sim_identity.webadmit_id):
        sim.force(file_id, "Available")
    refresh_identity(sim_identity.pk)
    identity = reload(sim_identity)
    assert 270 <= (identity.next_refresh_at - identity.last_attempt_at).total_seconds() <= 330

    sim.add_run(sim_identity.webadmit_id)
    refresh_identity(sim_identity.pk)

    identity = reload(sim_identity)
    assert 13 <= (identity.next_refresh_at - identity.last_attempt_at).total_seconds() <= 17


def test_a_refresh_skips_while_another_holds_the_lock_and_takes_over_an_expired_one(sim_identity):
    now = timezone.now()
    UserIdentity.objects.filter(pk=sim_identity.pk).update(refreshing_until=now + timedelta(seconds=30))

    assert refresh_identity(sim_identity.pk, now=now).outcome is Outcome.SKIPPED
    assert not ExportFile.objects.exists()

    later = now + timedelta(seconds=31)
    assert refresh_identity(sim_identity.pk, now=later).outcome is Outcome.REFRESHED
    assert reload(sim_identity).refreshing_until is None


def test_the_lock_frees_itself_soon_after_the_longest_possible_refresh(settings):
    settings.WEBADMIT_CONNECT_TIMEOUT, settings.WEBADMIT_READ_TIMEOUT = 5, 20

    # At most five calls, each timing out after 25 s: E6 and P4, E3 and P1 when names are missing, one batch's P5.
    assert lock_ttl() == timedelta(seconds=5 * 25 + 5 + 10)


def test_paused_and_disabled_identities_are_not_refreshed(sim_identities):
    paused, disabled, _ = sim_identities
    UserIdentity.objects.filter(pk=paused.pk).update(paused=True, refresh_queued_at=timezone.now())
    UserIdentity.objects.filter(pk=disabled.pk).update(enabled=False)

    assert refresh_identity(paused.pk).outcome is Outcome.SKIPPED
    assert refresh_identity(disabled.pk).outcome is Outcome.SKIPPED
    assert reload(paused).refresh_queued_at is None, "a skipped task frees the dedup mark"


def test_a_refresh_records_the_rate_budget_webadmit_reports(sim_identity):
    refresh_identity(sim_identity.pk)

    credential = Credential.objects.get()
    assert credential.rate_limit_remaining is not None and credential.rate_limit_remaining < 5000
    assert credential.rate_limit_seen_at is not None


def test_an_unchanged_refresh_tells_pages_nothing_but_a_recovery_does(sim_identity, sim):
    refresh_identity(sim_identity.pk)
    quiet = reload(sim_identity).change_seq
    refresh_identity(sim_identity.pk)
    assert reload(sim_identity).change_seq == quiet

    sim.fault("server_error", sim_identity.webadmit_id, times=1)
    refresh_identity(sim_identity.pk, now=timezone.now())
    failed = reload(sim_identity).change_seq
    assert failed > quiet

    refresh_identity(sim_identity.pk, now=timezone.now() + timedelta(hours=1))
    assert reload(sim_identity).change_seq > failed, "the error clearing is a visible change"


def test_a_new_export_is_named_by_e3_on_the_refresh_that_first_sees_it(sim_identity, sim, world):
    refresh_identity(sim_identity.pk)
    newest = world.exports(sim_identity.webadmit_id)[0]
    sim_identity.exports.filter(webadmit_id=newest.id).delete()  # as if the export were created since
    file_id = sim.add_run(sim_identity.webadmit_id, export_id=newest.id)

    outcome = refresh_identity(sim_identity.pk, now=timezone.now() + timedelta(minutes=2))

    assert outcome.calls == 2
    assert ExportFile.objects.get(webadmit_id=file_id).export.name == newest.name


@pytest.mark.parametrize("kind", ["server_error", "unavailable", "malformed_json"])
def test_a_failing_e3_still_stores_the_statuses_and_asks_again_a_minute_later(kind, sim_identity, sim, world):
    sim.fault(kind, sim_identity.webadmit_id, endpoint="E3")
    now = timezone.now()

    outcome = refresh_identity(sim_identity.pk, now=now)

    assert outcome.outcome is Outcome.REFRESHED and outcome.calls == 2
    assert outcome.exports_error is not None and outcome.exports_error.kind in ("unavailable", "bad_response")
    assert statuses(sim_identity) == {state.id: state.status for state in world.files(sim_identity.webadmit_id)}
    assert not ExportFile.objects.filter(identity=sim_identity, export__isnull=False).exists(), "no names yet"
    assert StatusChange.objects.filter(export_file__identity=sim_identity).count() == len(statuses(sim_identity))
    identity = reload(sim_identity)
    assert identity.error_kind == "" and identity.consecutive_failures == 0, "the statuses are fresh: no banner"
    assert identity.exports_synced_at is None and identity.exports_checked_at == now

    soon = refresh_identity(sim_identity.pk, now=now + timedelta(seconds=30))
    assert soon.calls == 1, "E3 is not asked again within the minute, while it fails"

    sim.clear_faults()
    later = refresh_identity(sim_identity.pk, now=now + timedelta(seconds=61))
    assert later.calls == 2 and later.exports_error is None
    files = ExportFile.objects.filter(identity=sim_identity).select_related("export")
    assert all(file.export and file.export.name for file in files), "named once E3 answers"
    assert StatusChange.objects.filter(export_file__identity=sim_identity).count() == files.count(), "no duplicates"


def test_a_rate_limited_e3_stores_the_statuses_and_backs_the_credential_off(sim_identity, sim, world):
    sim.fault("rate_limited", sim_identity.webadmit_id, endpoint="E3", seconds=120)
    now = timezone.now()

    outcome = refresh_identity(sim_identity.pk, now=now)

    assert outcome.outcome is Outcome.REFRESHED and outcome.exports_error.kind == "rate_limited"
    assert statuses(sim_identity) == {state.id: state.status for state in world.files(sim_identity.webadmit_id)}
    credential = Credential.objects.get()
    assert credential.backoff_until == now + timedelta(seconds=120)
    assert not schedule.due_identities(now + timedelta(seconds=119)).exists()


def test_a_key_rejection_pauses_every_identity_of_the_key_until_the_key_works_again(sim_identities, sim):
    for identity in sim_identities:
        refresh_identity(identity.pk)
    before = {file.pk: file.status for file in ExportFile.objects.all()}
    sim.fault("key_rejected")

    outcome = refresh_identity(sim_identities[0].pk)

    assert outcome.error.kind == "key_rejected"
    credential = Credential.objects.get()
    assert credential.health == Credential.Health.KEY_REJECTED
    assert all(reload(identity).paused for identity in sim_identities)
    assert {identity.error_kind for identity in map(reload, sim_identities)} == {"key_rejected"}
    assert {file.pk: file.status for file in ExportFile.objects.all()} == before, "statuses stay, as stale"
    assert not schedule.due_identities(timezone.now() + timedelta(days=1)).exists()

    sim.clear_faults()
    credentials.test_connection(credential)  # "Test connection" succeeding resumes them

    assert not any(reload(identity).paused for identity in sim_identities)
    assert refresh_identity(sim_identities[1].pk).outcome is Outcome.REFRESHED


def test_saving_a_new_key_in_the_admin_resumes_the_identities_its_rejection_paused(
    sim_identities, sim, client, admin_user
):
    refresh_identity(sim_identities[0].pk)
    sim.fault("key_rejected", times=1)
    refresh_identity(sim_identities[0].pk)
    assert all(reload(identity).paused for identity in sim_identities)
    credential = Credential.objects.get()
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:dashboard_credential_change", args=[credential.pk]),
        {
            "name": credential.name,
            "base_url": credential.base_url,
            "api_key": SIMULATOR_KEY,
            "rate_limit_per_hour": 5000,
        },
    )

    assert response.status_code == 302
    assert not any(reload(identity).paused for identity in sim_identities)
    assert {identity.pk for identity in schedule.due_identities(timezone.now())} == {i.pk for i in sim_identities}
    assert refresh_identity(sim_identities[2].pk).outcome is Outcome.REFRESHED
    assert Credential.objects.get().health == Credential.Health.OK
