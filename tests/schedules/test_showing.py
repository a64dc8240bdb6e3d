"""Showing the watchdog: the open misses on Recent Files (only of identities the user sees), one expectation's
partial, the read-only API and the /metrics gauge."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.api.conftest import ApiClient
from tests.ops.test_metrics import METRICS_TOKEN
from tests.support.factories import make_export, make_file
from tests.support.prometheus import parse, value
from webadmit_dash.api import tokens
from webadmit_dash.schedules import state
from webadmit_dash.schedules.models import Expectation, Missing


def today_at(hour: int, minute: int = 0) -> datetime:
    return timezone.localtime().replace(hour=hour, minute=minute, second=0, microsecond=0)


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def expectation(identity) -> Expectation:
    export = make_export(identity, 335158, "Nightly Banner Export")
    return Expectation.objects.create(export=export, by_time=time(7), days="daily")


@pytest.fixture
def miss(expectation) -> Missing:
    return Missing.objects.create(expectation=expectation, expected_by=today_at(7), detected_at=today_at(7, 1))


def other_miss(other_identity) -> Missing:
    export = make_export(other_identity, 4242, "Pharmacy Decisions")
    other = Expectation.objects.create(export=export, by_time=time(8), days="weekdays")
    return Missing.objects.create(expectation=other, expected_by=today_at(8), detected_at=today_at(8, 1))


@pytest.mark.django_db
class TestRecentFilesBanner:
    def test_an_open_miss_is_shown_at_the_top_linking_to_the_exports_runs(self, client, staff_granted, miss):
        client.force_login(staff_granted)
        page = client.get("/").content.decode()
        assert "An expected file has not come" in page
        assert "Expected by 07:00, nothing yet: " in page
        assert (
            f'href="/?identity={miss.expectation.export.identity_id}&amp;q=Nightly+Banner+Export&amp;expired=1"' in page
        )
        assert "· SOPHAS" in page
        # Above the freshness strip and the list.
        assert page.index('id="misses"') < page.index('id="sources"') < page.index('id="results"')

    def test_not_shown_to_a_user_without_the_identity(self, client, staff_via_group, staff_none, miss):
        for user in (staff_via_group, staff_none):
            client.force_login(user)
            page = client.get("/").content.decode()
            assert "Nightly Banner Export" not in page
            assert "expected file" not in page

    def test_each_user_sees_the_misses_of_their_own_identities(
        self, client, admin_user, staff_via_group, miss, other_identity
    ):
        other_miss(other_identity)
        client.force_login(staff_via_group)
        page = client.get("/").content.decode()
        assert "Expected by 08:00, nothing yet: " in page and "Pharmacy Decisions" in page
        assert "Nightly Banner Export" not in page
        client.force_login(admin_user)
        page = client.get("/").content.decode()
        assert "2 expected files have not come" in page
        # The oldest deadline first.
        assert page.index("Nightly Banner Export") < page.index("Pharmacy Decisions")

    def test_arrived_and_disabled_misses_are_not_shown(self, client, admin_user, miss, expectation):
        client.force_login(admin_user)
        late = make_file(expectation.export.identity, export=expectation.export)
        Missing.objects.filter(pk=miss.pk).update(arrived=late, arrived_at=today_at(7, 42))
        assert "Nightly Banner Export: " not in client.get("/").content.decode()
        assert 'id="miss-' not in client.get("/").content.decode()
        Missing.objects.filter(pk=miss.pk).update(arrived=None, arrived_at=None)
        Expectation.objects.update(enabled=False)
        assert 'id="miss-' not in client.get("/").content.decode()

    def test_a_miss_of_another_day_says_which(self, client, admin_user, expectation):
        Missing.objects.create(
            expectation=expectation, expected_by=today_at(7) - timedelta(days=2), detected_at=today_at(7)
        )
        client.force_login(admin_user)
        assert "Expected by 07:00 on " in client.get("/").content.decode()

    def test_many_misses_are_summed_up(self, admin_user, expectation):
        for day in range(state.BANNER_LIMIT + 3):
            Missing.objects.create(
                expectation=expectation, expected_by=today_at(7) - timedelta(days=day), detected_at=today_at(7)
            )
        shown, total = state.open_misses([expectation.export.identity_id], timezone.now())
        assert (len(shown), total) == (state.BANNER_LIMIT, state.BANNER_LIMIT + 3)

    def test_the_banner_costs_two_queries_and_one_when_nothing_is_missing(
        self, client, admin_user, miss, other_identity
    ):
        client.force_login(admin_user)
        client.get("/")

        def banner_queries() -> int:
            with CaptureQueriesContext(connection) as queries:
                client.get("/")
            return len([q for q in queries.captured_queries if "schedules_missing" in q["sql"]])

        # Whether any is open anywhere, then the open ones of the user's identities.
        assert banner_queries() == 2
        Missing.objects.update(arrived_at=timezone.now())
        assert banner_queries() == 1

    def test_a_poll_that_re_renders_carries_the_banner_out_of_band(self, client, admin_user, miss):
        client.force_login(admin_user)
        response = client.get("/files/poll/?since=-1&top=1", HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert '<div id="misses" class="banners" hx-swap-oob="true">' in response.content.decode()


@pytest.mark.django_db
class TestExpectationPartial:
    def test_a_missed_deadline(self, miss, expectation):
        Expectation.objects.filter(pk=expectation.pk).update(checked_through=miss.expected_by)
        expectation.refresh_from_db()
        html = render_to_string(
            "schedules/_expectation.html",
            {"expectation_state": state.expectation_state(expectation, miss.expected_by + timedelta(minutes=5))},
        )
        assert "A good run by 07:00, every day" in html
        assert "Expected by 07:00, nothing yet" in html
        assert "Next deadline" in html
        assert "expectation--missed" in html

    def test_met_late_and_new(self, expectation, miss):
        now = miss.expected_by + timedelta(hours=1)
        assert state.expectation_state(expectation, now).last_result == ""
        Expectation.objects.filter(pk=expectation.pk).update(checked_through=miss.expected_by - timedelta(days=1))
        expectation.refresh_from_db()
        met = state.expectation_state(expectation, now)
        assert (met.last_result, met.last_words) == ("met", "A good run came in time")
        assert met.open_miss == miss  # an older deadline still waits for its file
        Expectation.objects.filter(pk=expectation.pk).update(checked_through=miss.expected_by)
        Missing.objects.filter(pk=miss.pk).update(arrived_at=miss.expected_by + timedelta(minutes=42))
        expectation.refresh_from_db()
        late = state.expectation_state(expectation, now)
        assert (late.last_result, late.last_words) == ("late", "Arrived at 07:42, 42 minutes late")
        assert late.open_miss is None


@pytest.mark.django_db
class TestApi:
    def test_lists_what_the_user_may_see(self, staff_granted, staff_via_group, miss, other_identity):
        other_miss(other_identity)
        answer = ApiClient(tokens.create(staff_granted, "script").secret).get("/api/v1/expectations")
        assert answer.status_code == 200
        (item,) = answer.json()["items"]
        assert item["export_name"] == "Nightly Banner Export"
        assert item["export_id"] == 335158
        assert (item["by_time"], item["days"], item["enabled"]) == ("07:00", "daily", True)
        assert item["next_deadline"] is not None
        assert [m["words"] for m in item["open_misses"]] == ["Expected by 07:00, nothing yet"]
        (other,) = (
            ApiClient(tokens.create(staff_via_group, "script").secret).get("/api/v1/expectations").json()["items"]
        )
        assert other["export_name"] == "Pharmacy Decisions"

    def test_nothing_for_a_user_granted_nothing_and_401_without_a_token(self, staff_none, miss):
        assert ApiClient(tokens.create(staff_none, "script").secret).get("/api/v1/expectations").json() == {"items": []}
        assert ApiClient(None).get("/api/v1/expectations").status_code == 401

    def test_read_only(self, admin_user, miss):
        api = ApiClient(tokens.create(admin_user, "script").secret)
        assert api.client.post("/api/v1/expectations", HTTP_AUTHORIZATION=f"Bearer {api.token}").status_code == 405


@pytest.mark.django_db
def test_the_metric_counts_open_misses_at_scrape_time(client, settings, miss, other_identity):
    settings.METRICS_TOKEN = METRICS_TOKEN

    def scrape() -> float:
        text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").content.decode()
        return value(parse(text), "webadmit_dash_missing_files")

    assert scrape() == 1
    second = other_miss(other_identity)
    assert scrape() == 2
    Missing.objects.filter(pk=second.pk).update(arrived_at=timezone.now())
    Expectation.objects.filter(pk=miss.expectation_id).update(enabled=False)
    assert scrape() == 0
