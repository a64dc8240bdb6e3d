"""The per-export page and its schedule form, the Schedules page, the file page's link, and the admin: what each
user may see and change, and refusals in words."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.factories import make_file
from webadmit_dash.core.models import Export, RunRequest
from webadmit_dash.schedules.models import Schedule, ScheduledRun
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(export: Export) -> str:
    return f"/exports/{export.pk}/"


def test_the_page_shows_schedules_in_words_runs_and_the_callback(export, staff_granted):
    schedule = Schedule.objects.create(export=export, kind="weekdays", times="06:00, 13:00")
    audit = RunRequest.objects.create(
        identity=export.identity,
        export_webadmit_id=export.webadmit_id,
        run_webadmit_id=991,
        source="schedule",
        source_label="Weekdays at 06:00 and 13:00",
        callback_token="t" * 40,
    )
    ScheduledRun.objects.create(schedule=schedule, slot=audit.created_at, outcome="started", run_request=audit)
    RunRequest.objects.create(
        user=staff_granted, identity=export.identity, export_webadmit_id=export.webadmit_id, message="No, said WebAdMIT"
    )

    response = signed_in(staff_granted).get(url(export))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Weekdays at 06:00 and 13:00" in page and "America/New_York" in page
    assert "Schedule: Weekdays at 06:00 and 13:00" in page and "WebAdMIT will call back" in page
    assert "bob (Run again)" in page and "Refused: No, said WebAdMIT" in page
    assert 'id="schedule-form"' in page


def test_the_page_is_a_404_for_users_who_may_not_see_the_identity(export, staff_none, staff_via_group, client):
    for user in (staff_none, staff_via_group):
        assert signed_in(user).get(url(export)).status_code == 404
        assert signed_in(user).post(url(export), {"kind": "daily", "times": "06:00"}).status_code == 404
    assert signed_in(staff_none).get("/exports/99999999999999999999/").status_code == 404
    assert client.get(url(export)).status_code == 302  # to sign in
    assert not Schedule.objects.exists()


def test_adding_a_schedule_plans_its_next_run_and_records_who(export, staff_granted):
    client = signed_in(staff_granted)
    response = client.post(url(export), {"kind": "daily", "times": "13:00,6:00", "enabled": "on"})

    assert response.status_code == 302
    schedule = Schedule.objects.get()
    assert (schedule.times, schedule.created_by, schedule.enabled) == ("06:00, 13:00", staff_granted, True)
    assert schedule.next_run_at is not None
    followed = client.get(url(export)).content.decode()
    assert "Added the schedule: Every day at 06:00 and 13:00 (next run" in followed


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"kind": "daily", "times": "25:00"}, "“25:00” is not a time of day"),
        ({"kind": "cron", "cron": "60 6 * * *"}, "“60 6 * * *” is not a cron expression"),
        ({"kind": "cron", "cron": "@fortnightly"}, "is not a cron alias this dashboard knows"),
        ({"kind": "weekdays", "times": ""}, "Give at least one time of day"),
    ],
)
def test_the_form_refuses_in_words(export, staff_granted, data, words):
    response = signed_in(staff_granted).post(url(export), data)

    assert response.status_code == 400
    assert words in response.content.decode()
    assert not Schedule.objects.exists()


def test_changing_and_disabling_a_schedule(export, staff_granted):
    schedule = Schedule.objects.create(export=export, kind="daily", times="06:00")
    page = signed_in(staff_granted).get(url(export), {"edit": schedule.pk}).content.decode()
    assert "Change the schedule “Every day at 06:00”" in page

    response = signed_in(staff_granted).post(
        url(export), {"schedule": schedule.pk, "kind": "cron", "cron": "0 7 * * 1-5"}
    )

    assert response.status_code == 302
    schedule.refresh_from_db()
    assert (schedule.kind, schedule.cron, schedule.times, schedule.enabled) == ("cron", "0 7 * * 1-5", "", False)
    assert schedule.next_run_at is None  # disabled: nothing planned
    assert Schedule.objects.count() == 1


def test_a_schedule_of_another_export_cannot_be_changed_from_this_page(export, staff_granted, other_identity):
    elsewhere = Export.objects.create(identity=other_identity, webadmit_id=77, name="Pharmacy")
    theirs = Schedule.objects.create(export=elsewhere, kind="daily", times="06:00")

    response = signed_in(staff_granted).post(url(export), {"schedule": theirs.pk, "kind": "daily", "times": "09:00"})

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.times == "06:00"


def test_the_schedules_page_lists_only_what_the_user_may_see(export, staff_granted, other_identity):
    Schedule.objects.create(export=export, kind="weekdays", times="06:00")
    elsewhere = Export.objects.create(identity=other_identity, webadmit_id=77, name="Pharmacy secret")
    Schedule.objects.create(export=elsewhere, kind="daily", times="07:00")

    page = signed_in(staff_granted).get("/schedules/").content.decode()

    assert "Weekdays at 06:00" in page and f'href="/exports/{export.pk}/"' in page
    assert "Pharmacy secret" not in page


def test_the_schedules_page_says_when_there_is_none(export, staff_none):
    Schedule.objects.create(export=export, kind="weekdays", times="06:00")
    assert "No schedule yet on any export you may see" in signed_in(staff_none).get("/schedules/").content.decode()


def test_the_file_page_links_to_its_exports_page(export, staff_granted):
    export_file = make_file(export.identity, FileStatus.AVAILABLE)
    export_file.export = export
    export_file.save()

    page = signed_in(staff_granted).get(f"/files/{export_file.pk}/").content.decode()

    assert f'href="/exports/{export.pk}/"' in page


def test_the_admin_refuses_a_bad_cron_in_words_and_shows_words(export, admin_user):
    client = signed_in(admin_user)
    response = client.post(
        "/admin/schedules/schedule/add/", {"export": export.pk, "kind": "cron", "cron": "0 6 * *", "enabled": "on"}
    )
    assert response.status_code == 200
    assert "has 4. Seconds and years are not used here" in response.content.decode()

    client.post(
        "/admin/schedules/schedule/add/", {"export": export.pk, "kind": "weekdays", "times": "06:00", "enabled": "on"}
    )
    schedule = Schedule.objects.get()
    assert schedule.created_by == admin_user and schedule.next_run_at is not None
    listing = client.get("/admin/schedules/schedule/").content.decode()
    assert "Weekdays at 06:00 (America/New_York)" in listing


def test_the_file_page_names_the_schedule_that_started_a_run(export, staff_granted):
    export_file = make_file(export.identity, FileStatus.QUEUED)
    RunRequest.objects.create(
        identity=export.identity,
        export_webadmit_id=export.webadmit_id,
        run=export_file,
        run_webadmit_id=export_file.webadmit_id,
        source="schedule",
        source_label="Weekdays at 06:00",
    )

    page = signed_in(staff_granted).get(f"/files/{export_file.pk}/").content.decode()

    assert "here by the schedule “Weekdays at 06:00”" in page and "a deleted user" not in page
