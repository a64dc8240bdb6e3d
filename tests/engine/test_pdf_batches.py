"""PDF Manager batches followed as export files are, against the simulator over HTTP: listed (P4) in the same refresh
as the identity's files, stored as ExportFile rows of kind pdf_batch with their history, superseding and gone_at;
their templates read (P1) once, their zips (P5) once each; P4's faults fail the refresh as E6's do; the budget counts
P4; and an identity that does not watch batches asks PDF Manager nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from tests.engine.test_faults import EXPECTED, recover
from webadmit_dash.core import states
from webadmit_dash.core.models import Credential, ExportFile, Kind, StatusChange, UserIdentity
from webadmit_dash.engine import schedule
from webadmit_dash.engine.refresh import Outcome, RefreshOutcome, refresh_identity
from webadmit_dash.simulator.pdf_manager import MAX_APPLICANTS, SimTemplate

pytestmark = pytest.mark.django_db

# The faults a call can meet (slow and unknown_status are no failures of a call).
CALL_FAULTS = sorted(kind for kind, (_, outcome, *_) in EXPECTED.items() if outcome is Outcome.FAILED)


@pytest.fixture
def watched(sim_identity: UserIdentity) -> UserIdentity:
    UserIdentity.objects.filter(pk=sim_identity.pk).update(watch_pdf_batches=True)
    return UserIdentity.objects.get(pk=sim_identity.pk)


def reload(identity: UserIdentity) -> UserIdentity:
    return UserIdentity.objects.select_related("credential").get(pk=identity.pk)


def batch_row(identity: UserIdentity, batch_id: int) -> ExportFile:
    return ExportFile.objects.select_related("export").get(identity=identity, kind=Kind.PDF_BATCH, webadmit_id=batch_id)


def template(sim, identity: UserIdentity, name: str) -> SimTemplate:
    return next(each for each in sim.world.pdf_manager.templates(identity.webadmit_id) if each.name == name)


def settle(identity: UserIdentity, now: datetime) -> datetime:
    """Refreshes until every downloadable batch's zips are read (one a refresh); returns the clock after."""
    for _ in range(10):
        result = refresh_identity(identity.pk, now=now)
        assert result.outcome is Outcome.REFRESHED
        now += timedelta(seconds=15)
        wanted = ExportFile.objects.filter(
            identity=identity,
            kind=Kind.PDF_BATCH,
            gone_at__isnull=True,
            status__in=["available", "success_with_errors"],
        )
        if not wanted.filter(zips__isnull=True).exists():
            return now
    raise AssertionError("the batches' zips were not all read within ten refreshes")


def snapshot(identity: UserIdentity) -> dict[tuple[str, int], tuple]:
    rows = ExportFile.objects.filter(identity=identity)
    columns = ("kind", "webadmit_id", "status", "raw_status", "gone_at", "export_id", "superseded_by_id")
    return {(kind, webadmit_id): rest for kind, webadmit_id, *rest in rows.values_list(*columns)}


def test_a_watched_identity_lists_its_batches_beside_its_files_in_one_refresh(watched, sim):
    now = timezone.now()

    result = refresh_identity(watched.pk, now=now)

    assert result.outcome is Outcome.REFRESHED
    world = {batch.id: batch for batch in sim.world.pdf_manager.batches(watched.webadmit_id)}
    rows = {row.webadmit_id: row for row in ExportFile.objects.filter(identity=watched, kind=Kind.PDF_BATCH)}
    assert set(rows) == set(world) and result.batches is not None and result.batches.created == len(world)
    for batch_id, row in rows.items():
        batch = world[batch_id]
        assert (row.status, row.raw_status) == (batch.state, batch.state), "the state's word, and its text as sent"
        assert row.export_webadmit_id == batch.template.id and row.href.endswith(f"/pdf_manager_batches/{batch_id}")
        assert row.export is not None and row.export.kind == Kind.PDF_BATCH, "its template, read by P1"
        assert (row.export.name, row.export.list_name, row.export.document_source_title) == (
            batch.template.name,
            batch.template.list_name,
            batch.template.document_source_title,
        )
        assert row.first_seen_at == row.status_changed_at == now
        assert list(row.status_changes.values_list("old_status", "new_status")) == [("", batch.state)]
    assert ExportFile.objects.filter(identity=watched, kind=Kind.EXPORT).count() == len(
        sim.file_ids(watched.webadmit_id)
    )
    # E6 and P4; E3 and P1 for the names; P5 for the newest ready batch's zips.
    assert sim.calls(watched.webadmit_id) == {"E6": 1, "P4": 1, "E3": 1, "P1": 1, "P5": 1}
    assert result.calls == 5


def test_a_new_batch_is_seen_runs_becomes_available_and_its_zips_are_read_once(watched, sim):
    now = settle(watched, timezone.now())
    full = template(sim, watched, "Full Application PDFs")
    batch_id = sim.start_batch(watched.webadmit_id, full.id, outcome="available")

    refresh_identity(watched.pk, now=now)
    row = batch_row(watched, batch_id)
    assert (row.status, row.first_seen_at, row.export.name) == ("initializing", now, full.name)
    assert row.attention_rank == 0, "running: it needs attention as a running file does"
    assert reload(watched).next_refresh_at <= now + timedelta(seconds=django_settings.WEBADMIT_FAST_INTERVAL * 1.1)

    sim.force_batch(batch_id, "in_progress")
    refresh_identity(watched.pk, now=now + timedelta(seconds=15))
    sim.force_batch(batch_id, "available")
    p5_before = sim.calls(watched.webadmit_id).get("P5", 0)
    ready_at = now + timedelta(seconds=30)
    refresh_identity(watched.pk, now=ready_at)

    row = batch_row(watched, batch_id)
    assert (row.status, row.raw_status, row.status_changed_at) == ("available", "available", ready_at)
    assert states.state_of(row) is states.FileState.DONE
    zip_ids = sim.world.pdf_manager.batch(batch_id).zip_file_ids
    assert len(zip_ids) == 3, "a large template's documents come in several zips"
    assert list(row.zips.values_list("zip_webadmit_id", "part", "parts")) == [
        (zip_id, part, 3) for part, zip_id in enumerate(zip_ids, start=1)
    ]
    assert row.change_seq == reload(watched).change_seq, "open pages see the batch (and its zips) change"
    assert sim.calls(watched.webadmit_id)["P5"] == p5_before + 1
    history = StatusChange.objects.filter(export_file=row).order_by("changed_at", "pk")
    assert list(history.values_list("old_status", "new_status")) == [
        ("", "initializing"),
        ("initializing", "in_progress"),
        ("in_progress", "available"),
    ]

    refresh_identity(watched.pk, now=now + timedelta(seconds=45))
    assert sim.calls(watched.webadmit_id)["P5"] == p5_before + 1, "a batch's zips are read once"
    assert row.zips.count() == 3


def test_a_failed_batch_is_superseded_by_a_later_good_batch_of_the_same_template(watched, sim):
    now = settle(watched, timezone.now())
    letters = template(sim, watched, "Letters of Recommendation")
    failed_id = sim.start_batch(watched.webadmit_id, letters.id, outcome="failed")
    sim.force_batch(failed_id, "failed")
    refresh_identity(watched.pk, now=now)
    failed = batch_row(watched, failed_id)
    assert (failed.status, failed.attention_rank, failed.superseded_by_id) == ("failed", 0, None)

    good_id = sim.start_batch(watched.webadmit_id, letters.id, outcome="available")
    sim.force_batch(good_id, "available")
    settle(watched, now + timedelta(seconds=15))

    failed, good = batch_row(watched, failed_id), batch_row(watched, good_id)
    assert failed.superseded_by_id == good.pk
    assert states.state_of(failed) is states.FileState.SUPERSEDED and failed.attention_rank == 1
    assert failed.change_seq > 0 and good.superseded_by_id is None


def test_batches_webadmit_no_longer_lists_are_marked_gone_and_kept(watched, sim):
    now = settle(watched, timezone.now())
    known = set(ExportFile.objects.filter(identity=watched, kind=Kind.PDF_BATCH).values_list("pk", flat=True))
    sim.advance(8 * 24 * 3600)  # past PDF Manager's (and Recent Files') retention
    transcripts = template(sim, watched, "Transcripts")
    fresh_id = sim.start_batch(watched.webadmit_id, transcripts.id)
    later = now + timedelta(minutes=1)

    refresh_identity(watched.pk, now=later)

    batches = ExportFile.objects.filter(identity=watched, kind=Kind.PDF_BATCH)
    assert set(batches.filter(gone_at=later).values_list("pk", flat=True)) == known, "gone, never deleted"
    assert batch_row(watched, fresh_id).gone_at is None


@pytest.mark.parametrize("kind", CALL_FAULTS)
def test_a_fault_on_the_batch_list_fails_the_refresh_as_on_the_file_list_and_keeps_what_is_known(
    kind, watched, sim, settings
):
    settings.WEBADMIT_READ_TIMEOUT = 1  # so the `timeout` fault costs a second, not twenty
    options, outcome, error_kind, paused, words = EXPECTED[kind]
    now = settle(watched, timezone.now())
    before = snapshot(watched)
    # Changes WebAdMIT shows meanwhile, on both lists: a failed refresh stores neither.
    sim.force(sim.file_ids(watched.webadmit_id)[0], "Failed")
    newest = sim.world.pdf_manager.batches(watched.webadmit_id)[0]
    sim.force_batch(newest.id, "failed")
    sim.fault(kind, watched.webadmit_id, endpoint="P4", **options)

    result = refresh_identity(watched.pk, now=now)

    identity = reload(watched)
    assert result.outcome is outcome
    assert (identity.error_kind, identity.paused, identity.consecutive_failures) == (error_kind, paused, 1)
    assert words in identity.error_message
    assert snapshot(watched) == before, "a failed refresh overwrites nothing, of files or of batches"
    assert identity.next_refresh_at > identity.last_attempt_at, "it waits (backs off, or is checked later)"

    recover(kind, identity, sim)
    result = refresh_identity(watched.pk, now=now + timedelta(minutes=5))

    identity = reload(watched)
    assert result.outcome is Outcome.REFRESHED
    assert (identity.error_kind, identity.paused, identity.consecutive_failures) == ("", False, 0)
    assert batch_row(watched, newest.id).status == "failed"
    assert set(before) <= set(snapshot(watched)), "no row lost"


@pytest.mark.parametrize("kind", CALL_FAULTS)
def test_each_fault_on_the_batch_list_means_what_it_means_on_the_file_list(kind, watched, sim, settings):
    settings.WEBADMIT_READ_TIMEOUT = 1
    options = EXPECTED[kind][0]
    seen = {}
    for endpoint in ("E6", "P4"):
        sim.clear_faults()
        UserIdentity.objects.filter(pk=watched.pk).update(
            paused=False, error_kind="", error_message="", consecutive_failures=0
        )
        Credential.objects.update(health=Credential.Health.OK, backoff_until=None)
        sim.fault(kind, watched.webadmit_id, endpoint=endpoint, **options)
        result = refresh_identity(watched.pk, now=timezone.now())
        identity = reload(watched)
        seen[endpoint] = (result.outcome, identity.error_kind, identity.paused, identity.consecutive_failures)
    assert seen["P4"] == seen["E6"]


def test_zips_that_cannot_be_read_leave_the_statuses_stored_and_are_read_after_the_usual_backoff(watched, sim):
    now = timezone.now()
    sim.fault("unavailable", watched.webadmit_id, endpoint="P5", times=1)

    result = refresh_identity(watched.pk, now=now)

    identity = reload(watched)
    assert result.outcome is Outcome.REFRESHED
    assert ExportFile.objects.filter(identity=watched, kind=Kind.PDF_BATCH).count() == len(
        sim.world.pdf_manager.batches(watched.webadmit_id)
    ), "the batch row shows its status meanwhile"
    assert not ExportFile.objects.filter(identity=watched, zips__isnull=False).exists()
    assert (identity.error_kind, identity.consecutive_failures, identity.last_success_at) == ("unavailable", 1, now)
    assert "HTTP 503" in identity.error_message
    fast = timedelta(seconds=django_settings.WEBADMIT_FAST_INTERVAL)
    assert now + fast * 0.5 <= identity.next_refresh_at <= now + fast, "the first step of the usual backoff"
    assert identity.change_seq > 0, "open pages show the failure"

    refresh_identity(watched.pk, now=identity.next_refresh_at)

    identity = reload(watched)
    assert (identity.error_kind, identity.consecutive_failures) == ("", 0)
    assert ExportFile.objects.filter(identity=watched, zips__isnull=False).distinct().count() == 1


def test_a_ready_batch_webadmit_names_no_zips_of_is_an_unexpected_answer_retried_with_backoff(watched, sim):
    now = settle(watched, timezone.now())
    # This template's list is empty, or larger than a batch may hold: it has no zips, whatever its state says.
    templates = sim.world.pdf_manager.templates(watched.webadmit_id)
    awkward = next(each for each in templates if not 0 < each.applicants <= MAX_APPLICANTS)
    batch_id = sim.start_batch(watched.webadmit_id, awkward.id)
    sim.force_batch(batch_id, "available")

    result = refresh_identity(watched.pk, now=now)

    identity = reload(watched)
    assert result.outcome is Outcome.REFRESHED and batch_row(watched, batch_id).status == "available"
    assert identity.error_kind == "bad_response" and f"batch {batch_id}" in identity.error_message
    assert identity.next_refresh_at > now


def test_templates_are_read_when_a_batch_names_an_unknown_one_at_most_once_a_minute(watched, sim):
    now = timezone.now()
    sim.fault("server_error", watched.webadmit_id, endpoint="P1", times=1)

    result = refresh_identity(watched.pk, now=now)

    identity = reload(watched)
    assert result.outcome is Outcome.REFRESHED and identity.error_kind == "", "a failed P1 only leaves names missing"
    batches = ExportFile.objects.filter(identity=watched, kind=Kind.PDF_BATCH)
    assert batches.exists() and not batches.filter(export__isnull=False).exists()
    assert identity.templates_checked_at == now

    refresh_identity(watched.pk, now=now + timedelta(seconds=30))
    assert sim.calls(watched.webadmit_id)["P1"] == 1, "not again within the minute"

    refresh_identity(watched.pk, now=now + timedelta(seconds=61))
    assert sim.calls(watched.webadmit_id)["P1"] == 2
    assert not batches.filter(export__isnull=True).exists()

    refresh_identity(watched.pk, now=now + timedelta(minutes=5))
    assert sim.calls(watched.webadmit_id)["P1"] == 2, "known templates are not read again"


def test_an_identity_that_does_not_watch_batches_asks_pdf_manager_nothing(sim_identity, sim):
    now = timezone.now()
    for step in range(3):
        refresh_identity(sim_identity.pk, now=now + timedelta(minutes=step))

    assert not [endpoint for endpoint in sim.calls(sim_identity.webadmit_id) if endpoint.startswith("P")]
    assert not ExportFile.objects.filter(kind=Kind.PDF_BATCH).exists()
    assert not reload(sim_identity).exports.filter(kind=Kind.PDF_BATCH).exists()


def test_a_running_batch_keeps_the_identity_on_the_fast_cadence(watched, sim):
    for file_id in sim.file_ids(watched.webadmit_id):
        sim.force(file_id, "Available")
    now = settle(watched, timezone.now())
    for batch in sim.world.pdf_manager.batches(watched.webadmit_id):
        sim.force_batch(batch.id, "failed")
    now = settle(watched, now)
    last = now - timedelta(seconds=15)  # settle's last refresh
    assert reload(watched).next_refresh_at >= last + timedelta(seconds=27), "all settled: the slow cadence"

    transcripts = template(sim, watched, "Transcripts")
    sim.start_batch(watched.webadmit_id, transcripts.id)
    refresh_identity(watched.pk, now=now)

    assert reload(watched).next_refresh_at <= now + timedelta(seconds=django_settings.WEBADMIT_FAST_INTERVAL * 1.1)


def test_the_budget_counts_the_batch_list_of_every_refresh(sim_identities, sim):
    identity, *others = sim_identities
    UserIdentity.objects.filter(pk__in=[other.pk for other in others]).update(enabled=False)
    credential = Credential.objects.get()
    now = timezone.now()
    without = schedule._demands(now)[credential.pk]
    UserIdentity.objects.filter(pk=identity.pk).update(watch_pdf_batches=True)
    watching = schedule._demands(now)[credential.pk]
    assert watching.total(30.0) == pytest.approx(2 * without.total(30.0)), "two calls a refresh: E6 and P4"

    now = settle(reload(identity), now)
    Credential.objects.update(rate_limit_seen_at=None)  # so that this refresh stores what WebAdMIT says is left
    steady: RefreshOutcome = refresh_identity(identity.pk, now=now)
    assert steady.calls == 2 and sim.calls(identity.webadmit_id)["P4"] == sim.calls(identity.webadmit_id)["E6"]
    # WebAdMIT counts every call against the key, P4 included, and the credential keeps what it last said.
    assert reload(identity).credential.rate_limit_remaining == 5000 - sum(sim.calls().values())


def test_settled_identities_that_watch_batches_come_round_as_often_as_their_two_calls_allow(settings):
    settings.WEBADMIT_SETTLED_SHARE, settings.WEBADMIT_SLOW_FLOOR = 25, 1
    credential = Credential(name="Budget", rate_limit_per_hour=5000)
    plain = schedule.Demand(settled_shared=100)
    watching = schedule.Demand(settled_shared=100, settled_shared_batches=100)
    now = timezone.now()
    assert schedule.shared_settled_interval(credential, watching, now) > 1.9 * schedule.shared_settled_interval(
        credential, plain, now
    )
