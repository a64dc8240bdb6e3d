"""The apply step as a plain function: listings in, rows out, only changes written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.factories import EXPORT_ID, OTHER_EXPORT_ID, listed
from webadmit_dash.core.models import ChangeCounter, Export, ExportFile, StatusChange, UserIdentity
from webadmit_dash.engine import apply, tasks
from webadmit_dash.webadmit import Export as UpstreamExport

pytestmark = pytest.mark.django_db


def upstream_export(export_id: int = EXPORT_ID, name: str = "Nightly Banner Export") -> UpstreamExport:
    return UpstreamExport(export_id, name, "all", "Comma-Separated Values", "text/csv;charset=iso-8859-1")


def history(identity: UserIdentity) -> list[tuple[int, str, str]]:
    changes = StatusChange.objects.filter(export_file__identity=identity).order_by("changed_at", "id")
    return [(change.export_file.webadmit_id, change.old_status, change.new_status) for change in changes]


@pytest.fixture
def now():
    return timezone.now()


def test_first_listing_creates_each_file_with_one_history_row(identity, now):
    result = apply.apply_listing(identity, [listed(1, "Queued"), listed(2, "Available")], now)

    assert (result.created, result.transitions, result.gone) == (2, 0, 0)
    assert history(identity) == [(1, "", "queued"), (2, "", "available")]
    files = {file.webadmit_id: file for file in ExportFile.objects.all()}
    assert files[1].status == "queued" and files[1].raw_status == "Queued"
    assert files[1].first_seen_at == now and files[1].export_webadmit_id == EXPORT_ID


def test_a_visible_change_stamps_the_files_and_the_identity_with_one_new_sequence_number(identity, now):
    before = ChangeCounter.next_value()

    result = apply.apply_listing(identity, [listed(1, "Queued"), listed(2, "Queued")], now)

    identity.refresh_from_db()
    assert result.change_seq == before + 1 == identity.change_seq
    assert set(ExportFile.objects.values_list("change_seq", flat=True)) == {before + 1}


def test_an_unchanged_listing_writes_nothing_and_runs_one_query(identity, now, django_assert_num_queries):
    listing = [listed(1, "Queued"), listed(2, "Available")]
    first = apply.apply_listing(identity, listing, now)

    with django_assert_num_queries(1):
        result = apply.apply_listing(identity, listing, now + timedelta(seconds=15))

    assert not result.changed
    identity.refresh_from_db()
    assert identity.change_seq == first.change_seq
    assert len(history(identity)) == 2


def test_planning_only_reads_and_says_what_writing_would_change(identity, now):
    apply.apply_listing(identity, [listed(1, "Queued"), listed(2, "Available")], now)

    with CaptureQueriesContext(connection) as queries:
        plan = apply.plan_listing(identity, [listed(1, "In Progress"), listed(3, "Queued", OTHER_EXPORT_ID)])

    assert all(query["sql"].startswith("SELECT") for query in queries)
    assert plan.changes_anything and plan.running and plan.unknown_export_ids == {EXPORT_ID, OTHER_EXPORT_ID}
    result = apply.apply_plan(plan, now)
    assert (result.created, result.transitions, result.gone) == (1, 1, 1)


def test_a_transition_updates_the_file_and_adds_exactly_one_history_row(identity, now):
    apply.apply_listing(identity, [listed(1, "Queued"), listed(2, "Available")], now)
    later = now + timedelta(seconds=15)

    result = apply.apply_listing(identity, [listed(1, "In Progress"), listed(2, "Available")], later)
    apply.apply_listing(identity, [listed(1, "In Progress"), listed(2, "Available")], later)  # e.g. redelivered

    assert (result.created, result.transitions) == (0, 1)
    assert history(identity) == [(1, "", "queued"), (2, "", "available"), (1, "queued", "in_progress")]
    moved, still = ExportFile.objects.get(webadmit_id=1), ExportFile.objects.get(webadmit_id=2)
    assert moved.status_changed_at == later and moved.change_seq == result.change_seq
    assert still.change_seq < result.change_seq, "an unchanged file is not written"


def test_files_no_longer_listed_are_marked_gone_and_keep_their_history(identity, now):
    apply.apply_listing(identity, [listed(1, "Available"), listed(2, "Failed")], now)
    later = now + timedelta(days=7)

    result = apply.apply_listing(identity, [listed(2, "Failed")], later)

    assert result.gone == 1
    gone = ExportFile.objects.get(webadmit_id=1)
    assert gone.gone_at == later and gone.status == "available"
    assert (1, "", "available") in history(identity)


def test_a_file_listed_again_is_no_longer_gone(identity, now):
    apply.apply_listing(identity, [listed(1, "Available")], now)
    apply.apply_listing(identity, [], now + timedelta(minutes=1))

    apply.apply_listing(identity, [listed(1, "Available")], now + timedelta(minutes=2))

    assert ExportFile.objects.get(webadmit_id=1).gone_at is None
    assert history(identity) == [(1, "", "available")]


def test_the_old_lowercase_spelling_of_the_same_status_is_not_a_transition(identity, now):
    apply.apply_listing(identity, [listed(1, "queued")], now)

    apply.apply_listing(identity, [listed(1, "Queued")], now + timedelta(seconds=15))

    assert ExportFile.objects.get().raw_status == "Queued"
    assert history(identity) == [(1, "", "queued")]


def test_unknown_statuses_keep_their_text_and_a_new_text_is_a_transition(identity, now):
    apply.apply_listing(identity, [listed(1, "Archived")], now)
    apply.apply_listing(identity, [listed(1, "Purged")], now + timedelta(seconds=15))

    file = ExportFile.objects.get()
    assert (file.status, file.raw_status) == ("unknown", "Purged")
    assert history(identity) == [(1, "", "unknown"), (1, "unknown", "unknown")]


@pytest.mark.parametrize(
    ("statuses", "running"),
    [
        (["Available", "Failed", "Empty List", "Success With Errors"], False),
        (["Available", "Initializing"], True),
        (["Available", "Queued"], True),
        (["Available", "In Progress"], True),
        (["Available", "Archived"], True),  # unknown: most likely a new intermediate step
        ([], False),
    ],
)
def test_running_says_whether_any_listed_file_is_unfinished(identity, now, statuses, running):
    listing = [listed(number, status) for number, status in enumerate(statuses, start=1)]

    assert apply.apply_listing(identity, listing, now).running is running


def test_new_files_of_an_export_nothing_names_yet_are_reported_unknown(identity, now):
    Export.objects.create(identity=identity, webadmit_id=EXPORT_ID, name="Nightly Banner Export")

    result = apply.apply_listing(identity, [listed(1, "Queued"), listed(2, "Queued", OTHER_EXPORT_ID)], now)

    assert result.unknown_export_ids == {OTHER_EXPORT_ID}
    assert ExportFile.objects.get(webadmit_id=1).export.name == "Nightly Banner Export"
    again = apply.apply_listing(identity, [listed(1, "Queued"), listed(2, "Queued", OTHER_EXPORT_ID)], now)
    assert not again.changed and again.unknown_export_ids == {OTHER_EXPORT_ID}, "still unnamed, still asked for"


def test_exports_name_the_files_that_had_none(identity, now):
    apply.apply_listing(identity, [listed(1, "Queued"), listed(2, "Available", OTHER_EXPORT_ID)], now)
    before = identity.change_seq

    result = apply.apply_exports(
        identity, [upstream_export(), upstream_export(OTHER_EXPORT_ID, "Daily Decision Letters")], now
    )

    assert result.created == 2
    names = dict(ExportFile.objects.values_list("webadmit_id", "export__name"))
    assert names == {1: "Nightly Banner Export", 2: "Daily Decision Letters"}
    identity.refresh_from_db()
    assert identity.exports_synced_at == now and identity.change_seq > before
    again = apply.apply_listing(identity, [listed(1, "Queued"), listed(2, "Available", OTHER_EXPORT_ID)], now)
    assert not again.unknown_export_ids


def test_a_renamed_export_marks_its_files_changed_and_an_unchanged_list_marks_nothing(identity, now):
    apply.apply_listing(identity, [listed(1, "Available")], now)
    apply.apply_exports(identity, [upstream_export()], now)
    seq = ExportFile.objects.get().change_seq

    apply.apply_exports(identity, [upstream_export()], now + timedelta(hours=1))
    assert ExportFile.objects.get().change_seq == seq

    result = apply.apply_exports(identity, [upstream_export(name="Nightly Banner Export (v2)")], now)
    file = ExportFile.objects.select_related("export").get()
    assert result.renamed == 1 and file.export.name == "Nightly Banner Export (v2)" and file.change_seq > seq


def test_exports_webadmit_stops_listing_are_kept_for_older_files(identity, now):
    apply.apply_listing(identity, [listed(1, "Available")], now)
    apply.apply_exports(identity, [upstream_export()], now)

    apply.apply_exports(identity, [], now + timedelta(hours=1))

    assert ExportFile.objects.get().export.name == "Nightly Banner Export"


def test_prune_deletes_old_history_and_old_gone_files_in_batches(identity, now):
    long_ago = now - timedelta(days=40)
    apply.apply_listing(identity, [listed(n, "Available") for n in range(1, 6)], long_ago)
    apply.apply_listing(identity, [listed(n, "Available") for n in range(3, 6)], long_ago + timedelta(days=1))
    apply.apply_listing(identity, [listed(n, "Available") for n in range(3, 6)] + [listed(6, "Queued")], now)

    result = apply.prune_history(now, keep=timedelta(days=30), batch_size=2)

    assert (result.status_changes, result.gone_files) == (5, 2)
    assert sorted(ExportFile.objects.values_list("webadmit_id", flat=True)) == [3, 4, 5, 6]
    assert history(identity) == [(6, "", "queued")]


def test_the_prune_task_keeps_the_configured_number_of_days(identity, settings):
    settings.WEBADMIT_RETENTION_DAYS = 10
    now = timezone.now()
    apply.apply_listing(identity, [listed(1, "Available")], now - timedelta(days=11))
    apply.apply_listing(identity, [listed(2, "Available")], now - timedelta(days=9))

    assert tasks.prune_history() == {"status_changes": 1, "gone_files": 0, "interactive_calls": 0}
    assert history(identity) == [(2, "", "available")]
    assert ExportFile.objects.get(webadmit_id=1).gone_at is not None, "gone 9 days ago: kept for 10"
