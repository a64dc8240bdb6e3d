"""A file's lifecycle beyond WebAdMIT's statuses: superseded by a later run that ended well (written by the apply
step, in the transaction of the change that makes it true), acknowledged by a person, and a run Run again started
stored at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.factories import EXPORT_ID, OTHER_EXPORT_ID, listed
from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.engine import apply, on_demand

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now()


def superseded(identity: UserIdentity) -> dict[int, int | None]:
    """{file id: the file id of the run that supersedes it, or None}, by WebAdMIT ids."""
    files = ExportFile.objects.filter(identity=identity).select_related("superseded_by")
    return {f.webadmit_id: f.superseded_by.webadmit_id if f.superseded_by else None for f in files}


def ranks(identity: UserIdentity) -> dict[int, int]:
    return dict(ExportFile.objects.filter(identity=identity).values_list("webadmit_id", "attention_rank"))


def test_a_failure_is_superseded_when_a_later_run_of_its_export_becomes_available(identity, now):
    apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "In Progress")], now)
    assert superseded(identity) == {1: None, 2: None}
    assert ranks(identity) == {1: 0, 2: 0}, "a failure and a running file both need attention"

    result = apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "Available")], now + timedelta(minutes=4))

    assert superseded(identity) == {1: 2, 2: None}
    assert ranks(identity) == {1: 1, 2: 1}, "both now sort with the settled files"
    assert result.superseded == 1
    # Stamped with the change's own sequence number, so open pages re-render the failed row too.
    assert set(ExportFile.objects.values_list("change_seq", flat=True)) == {result.change_seq}


def test_an_earlier_failure_first_listed_after_its_rerun_is_superseded_at_once(identity, now):
    apply.apply_listing(identity, [listed(5, "Success With Errors")], now)

    apply.apply_listing(identity, [listed(5, "Success With Errors"), listed(3, "Failed")], now + timedelta(minutes=1))

    assert superseded(identity) == {3: 5, 5: None}
    assert ranks(identity)[3] == 1


def test_each_run_points_at_the_nearest_later_good_run_of_the_same_export_only(identity, now):
    listing = [
        listed(1, "Failed"),
        listed(2, "Empty List"),
        listed(3, "Available"),
        listed(4, "Queued"),  # stuck: still unfinished, with a later good run
        listed(5, "Failed"),
        listed(6, "Success With Errors"),
        listed(7, "Failed"),  # the newest: nothing later supersedes it
        listed(8, "Failed", OTHER_EXPORT_ID),  # another export's good runs say nothing about this one
        listed(9, "Empty List", OTHER_EXPORT_ID),  # nor does a later run that matched no one
        listed(10, "Available"),
    ]
    apply.apply_listing(identity, listing, now)

    assert superseded(identity) == {1: 3, 2: 3, 3: None, 4: 6, 5: 6, 6: None, 7: 10, 8: None, 9: None, 10: None}


def test_a_superseded_run_that_ends_well_after_all_is_no_longer_superseded(identity, now):
    apply.apply_listing(identity, [listed(1, "In Progress"), listed(2, "Available")], now)
    assert superseded(identity) == {1: 2, 2: None}
    assert ranks(identity)[1] == 1, "a run still going whose export has since run well needs no attention"

    apply.apply_listing(identity, [listed(1, "Available"), listed(2, "Available")], now + timedelta(minutes=3))

    assert superseded(identity) == {1: None, 2: None}


def test_the_good_run_failing_after_all_releases_what_it_superseded(identity, now):
    apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "Available")], now)

    apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "Archived")], now + timedelta(minutes=3))

    assert superseded(identity) == {1: None, 2: None}
    assert ranks(identity) == {1: 0, 2: 0}


def test_a_run_gone_from_webadmit_still_supersedes(identity, now):
    apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "Available")], now)

    apply.apply_listing(identity, [listed(1, "Failed")], now + timedelta(days=7))

    assert superseded(identity) == {1: 2, 2: None}


def test_an_unchanged_listing_still_writes_nothing(identity, now, django_assert_num_queries):
    listing = [listed(1, "Failed"), listed(2, "Available")]
    apply.apply_listing(identity, listing, now)

    with django_assert_num_queries(1):
        assert not apply.apply_listing(identity, listing, now + timedelta(seconds=15)).changed


def test_acknowledging_a_failure_keeps_who_and_when_and_settles_it(identity, admin_user, now):
    apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "Available", OTHER_EXPORT_ID)], now)
    failed = ExportFile.objects.get(webadmit_id=1)
    version = UserIdentity.objects.get(pk=identity.pk).change_seq

    assert on_demand.acknowledge_failure(failed, admin_user)

    failed.refresh_from_db()
    assert failed.acknowledged_by == admin_user and failed.acknowledged_at is not None
    assert failed.attention_rank == 1
    assert failed.change_seq > version, "open pages re-render the row and recount"
    assert UserIdentity.objects.get(pk=identity.pk).change_seq == failed.change_seq

    assert on_demand.acknowledge_failure(failed, admin_user, undo=True)
    failed.refresh_from_db()
    assert (failed.acknowledged_by, failed.acknowledged_at, failed.attention_rank) == (None, None, 0)


def test_only_failures_can_be_acknowledged(identity, admin_user, now):
    apply.apply_listing(identity, [listed(1, "Empty List"), listed(2, "Queued")], now)
    version = UserIdentity.objects.get(pk=identity.pk).change_seq

    for export_file in ExportFile.objects.all():
        assert not on_demand.acknowledge_failure(export_file, admin_user)

    assert not ExportFile.objects.filter(acknowledged_at__isnull=False).exists()
    assert UserIdentity.objects.get(pk=identity.pk).change_seq == version


def test_a_started_run_is_stored_at_once_and_the_next_listing_carries_on_from_it(identity, now):
    apply.apply_listing(identity, [listed(1, "Failed")], now)
    version = UserIdentity.objects.get(pk=identity.pk).change_seq

    pk = apply.record_started_run(identity, listed(2, "Queued"), now + timedelta(seconds=1))

    run = ExportFile.objects.get(pk=pk)
    assert (run.webadmit_id, run.status, run.export_webadmit_id) == (2, "queued", EXPORT_ID)
    assert run.change_seq > version and UserIdentity.objects.get(pk=identity.pk).change_seq == run.change_seq
    assert list(run.status_changes.values_list("old_status", "new_status")) == [("", "queued")]
    # Storing it again (a second Run again answered with the same run) changes nothing.
    assert apply.record_started_run(identity, listed(2, "Queued"), now + timedelta(seconds=2)) == pk
    assert ExportFile.objects.count() == 2

    result = apply.apply_listing(identity, [listed(1, "Failed"), listed(2, "Available")], now + timedelta(minutes=5))
    assert (result.created, result.transitions) == (0, 1)
    assert superseded(identity) == {1: 2, 2: None}


def test_a_listing_asked_for_before_a_run_was_started_does_not_mark_that_run_gone(identity, now):
    apply.apply_listing(identity, [listed(1, "Failed")], now)
    # A refresh asks WebAdMIT at `now`; meanwhile Run again stores the run WebAdMIT just started.
    plan = apply.plan_listing(identity, [listed(1, "Failed")])
    apply.record_started_run(identity, listed(2, "Queued"), now + timedelta(seconds=2))
    stale_plan = apply.plan_listing(identity, [listed(1, "Failed")])
    assert [row.webadmit_id for row in stale_plan.diff.gone] == [2]

    apply.apply_plan(plan, now)
    apply.apply_plan(stale_plan, now)

    assert ExportFile.objects.get(webadmit_id=2).gone_at is None
