"""Stuck runs on a fake clock: the threshold from the export's own history (3x the median, at least 30 min), the
site-wide fallback without history, the event once per file, and the mark on the Recent Files row."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.factories import make_export, subscribe
from webadmit_dash.core import stuck
from webadmit_dash.core.models import Export, ExportFile, StatusChange, UserIdentity
from webadmit_dash.notifications import delivery, watch
from webadmit_dash.notifications.models import Delivery, Event
from webadmit_dash.web import time_signature

_ids = itertools.count(700_001)


@pytest.fixture
def clock() -> datetime:
    return timezone.now().replace(microsecond=0)


def earlier_run(identity: UserIdentity, export: Export, took: timedelta, ended: datetime) -> ExportFile:
    """A finished run of the export that took `took` from first sight to Available, as the engine records it."""
    started = ended - took
    export_file = ExportFile.objects.create(
        identity=identity,
        webadmit_id=next(_ids),
        export_webadmit_id=export.webadmit_id,
        export=export,
        href="/api/v1/exports/1/export_files/1",
        status="available",
        raw_status="Available",
        first_seen_at=started,
        status_changed_at=ended,
    )
    StatusChange.objects.create(export_file=export_file, old_status="", new_status="queued", changed_at=started)
    StatusChange.objects.create(
        export_file=export_file, old_status="in_progress", new_status="available", changed_at=ended
    )
    return export_file


def running_run(identity: UserIdentity, export: Export, since: datetime, status: str = "in_progress") -> ExportFile:
    return ExportFile.objects.create(
        identity=identity,
        webadmit_id=next(_ids),
        export_webadmit_id=export.webadmit_id,
        export=export,
        href="/api/v1/exports/1/export_files/2",
        status=status,
        raw_status=status.replace("_", " ").title(),
        first_seen_at=since,
        status_changed_at=since,
    )


def test_the_threshold_is_three_times_the_median_of_earlier_runs(identity, clock):
    export = make_export(identity, 41)
    for minutes in (10, 20, 40):
        earlier_run(identity, export, timedelta(minutes=minutes), clock - timedelta(days=1))
    # A run first seen already finished (an identity's first listing) says nothing about how long runs take.
    listed = earlier_run(identity, export, timedelta(0), clock - timedelta(days=2))
    StatusChange.objects.filter(export_file=listed).exclude(old_status="").update(old_status="")
    assert stuck.thresholds({(identity.pk, "export", 41)}) == {(identity.pk, "export", 41): timedelta(minutes=60)}

    young = running_run(identity, export, clock - timedelta(minutes=59))
    old = running_run(identity, export, clock - timedelta(minutes=61))
    threshold = timedelta(minutes=60)
    assert stuck.stuck_for(young, threshold, clock) is None
    assert stuck.stuck_for(old, threshold, clock) == timedelta(minutes=61)


def test_quick_exports_are_never_stuck_before_thirty_minutes(identity, clock):
    export = make_export(identity, 42)
    earlier_run(identity, export, timedelta(minutes=2), clock - timedelta(hours=3))
    assert stuck.thresholds({(identity.pk, "export", 42)})[(identity.pk, "export", 42)] == timedelta(minutes=30)
    assert (
        stuck.stuck_for(running_run(identity, export, clock - timedelta(minutes=29)), timedelta(minutes=30), clock)
        is None
    )


def test_without_history_the_site_wide_fallback_applies(identity, clock, settings):
    settings.WEBADMIT_STUCK_AFTER_MINUTES = 90
    make_export(identity, 43)
    other = make_export(identity, 44)
    earlier_run(identity, other, timedelta(minutes=20), clock - timedelta(hours=3))  # another export's history
    assert stuck.thresholds({(identity.pk, "export", 43)}) == {(identity.pk, "export", 43): timedelta(minutes=90)}


def test_finished_and_gone_runs_are_never_stuck(identity, clock):
    export = make_export(identity, 45)
    done = running_run(identity, export, clock - timedelta(days=1), status="failed")
    gone = running_run(identity, export, clock - timedelta(days=1))
    gone.gone_at = clock
    assert stuck.stuck_for(done, timedelta(minutes=30), clock) is None
    assert stuck.stuck_for(gone, timedelta(minutes=30), clock) is None


def test_a_stuck_run_is_told_once(identity, staff_granted, clock, settings):
    settings.WEBADMIT_STUCK_AFTER_MINUTES = 60
    subscribe(staff_granted)
    export = make_export(identity, 46)
    run = running_run(identity, export, clock - timedelta(minutes=50), status="queued")
    assert watch.watch(clock).stuck == 0  # 50 min: under the fallback's hour

    later = clock + timedelta(minutes=15)
    assert watch.watch(later).stuck == 1
    assert watch.watch(later + timedelta(minutes=1)).stuck == 0
    assert watch.watch(later + timedelta(hours=5)).stuck == 0
    event = Event.objects.get(kind="stuck")
    assert event.export_file == run
    assert (
        event.detail
        == "It was first seen 1 h 5 min ago and is still Queued; runs of this export count as stuck after 1 h."
    )
    assert Delivery.objects.filter(event=event, user=staff_granted).count() == 1


def test_the_stuck_event_reaches_the_mail_server(identity, staff_granted, clock, settings, mail_to_smtp):
    settings.WEBADMIT_STUCK_AFTER_MINUTES = 30
    subscribe(staff_granted)
    running_run(identity, make_export(identity, 47, "Daily Decision Letters"), clock - timedelta(hours=2))
    watch.watch(clock)
    delivery.deliver_due(now=clock)
    [message] = mail_to_smtp.received()
    assert str(message["Subject"]).strip() == "Stuck: Daily Decision Letters · SOPHAS 2026 \N{EN DASH} 2027"


def test_the_recent_files_row_shows_how_long_a_stuck_run_has_run(client, identity, staff_granted):
    now = timezone.now()
    export = make_export(identity, 48, "Weekly Interview Roster")
    stuck_run = running_run(identity, export, now - timedelta(minutes=200))
    fresh = running_run(identity, export, now - timedelta(minutes=5))
    client.force_login(staff_granted)
    page = client.get("/").content.decode()
    row = page.split(f'id="file-{stuck_run.pk}"')[1].split("</tr>")[0]
    assert "Stuck for" in row and "3 h 20 min" in row
    assert "Stuck for" not in page.split(f'id="file-{fresh.pk}"')[1].split("</tr>")[0]


def _twelve_more_running(identity: UserIdentity, other_identity: UserIdentity, now: datetime) -> None:
    """Twelve more runs stuck for hours, one per export, across two identities."""
    for n in range(12):
        owner = identity if n % 2 else other_identity
        running_run(owner, make_export(owner, 50 + n), now - timedelta(hours=4))


def test_the_stuck_marks_cost_one_query_whatever_the_number_of_rows(client, identity, other_identity, admin_user):
    now = timezone.now()
    client.force_login(admin_user)
    running_run(identity, make_export(identity, 49), now - timedelta(hours=4))
    client.get("/")

    def queries() -> int:
        cache.clear()  # the worst case: no threshold (nor count) cached
        time_signature.current(timezone.now())  # read once per period per process, not per page
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    one = queries()
    _twelve_more_running(identity, other_identity, now)
    assert queries() == one
    assert client.get("/").content.decode().count("Stuck for") == 13
    # Kept by the identities' versions (web/listing.py): the next view asks no threshold at all.
    with CaptureQueriesContext(connection) as captured:
        client.get("/")
    assert not any("dashboard_statuschange" in query["sql"] for query in captured.captured_queries)


def test_the_page_of_fresh_files_asks_no_threshold(client, identity, admin_user):
    running_run(identity, make_export(identity, 70), timezone.now() - timedelta(minutes=3))
    client.force_login(admin_user)
    client.get("/")
    with CaptureQueriesContext(connection) as captured:
        client.get("/")
    assert not any("dashboard_statuschange" in query["sql"] for query in captured.captured_queries)


def test_a_user_who_cannot_see_the_identity_hears_nothing_of_its_stuck_run(identity, staff_via_group, clock):
    subscribe(staff_via_group)
    running_run(identity, make_export(identity, 71), clock - timedelta(days=1))
    watch.watch(clock)
    assert Event.objects.filter(kind="stuck").count() == 1
    assert not Delivery.objects.exists()


def test_the_time_signature_reads_running_files_in_queries_whatever_their_number(identity, other_identity):
    """Read once per period per process for every identity (web/time_signature.py): no column it reads may be
    deferred, or each running file costs a query of its own."""
    now = timezone.now()
    running_run(identity, make_export(identity, 49), now - timedelta(hours=4))

    def queries() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            time_signature.current(timezone.now())
        return len(captured)

    one = queries()
    _twelve_more_running(identity, other_identity, now)
    assert queries() == one
