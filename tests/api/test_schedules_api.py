"""GET /api/v1/schedules: the schedules of the identities the token's user may see, read-only, in words."""

from __future__ import annotations

import pytest

from webadmit_dash.core.models import Export
from webadmit_dash.schedules.models import Schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedules(identity, other_identity, settings) -> list[Schedule]:
    settings.TIME_ZONE = "America/New_York"
    mine = Export.objects.create(identity=identity, webadmit_id=11, name="Applicants")
    theirs = Export.objects.create(identity=other_identity, webadmit_id=12, name="Pharmacy")
    return [
        Schedule.objects.create(export=mine, kind="weekdays", times="06:00, 13:00"),
        Schedule.objects.create(export=mine, kind="cron", cron="@daily", enabled=False),
        Schedule.objects.create(export=theirs, kind="daily", times="07:00"),
    ]


def test_lists_only_the_schedules_of_identities_the_user_may_see(api_as, staff_granted, schedules):
    response = api_as(staff_granted).get("/api/v1/schedules")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["id"] for item in items] == [schedules[0].pk, schedules[1].pk]
    first = items[0]
    assert first["description"] == "Weekdays at 06:00 and 13:00"
    assert first["time_zone"] == "America/New_York"
    assert first["export_name"] == "Applicants" and first["kind"] == "weekdays" and first["enabled"] is True
    assert first["next_run_at"] is not None and first["last_outcome"] == ""
    assert items[1]["description"] == "Every day at 00:00" and items[1]["next_run_at"] is None


def test_pages_by_id_and_nothing_for_a_user_granted_nothing(api_as, admin_user, staff_none, schedules):
    page = api_as(admin_user).get("/api/v1/schedules", {"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"] == schedules[1].pk
    rest = api_as(admin_user).get(page["next"]).json()
    assert [item["id"] for item in rest["items"]] == [schedules[2].pk] and rest["next"] is None
    assert api_as(staff_none).get("/api/v1/schedules").json()["items"] == []


def test_is_read_only(api_as, admin_user, schedules):
    assert api_as(admin_user).client.post("/api/v1/schedules").status_code in (401, 405)
