"""The watchdog's outbox, as the notifications app will read it: each miss told once, its all-clear told once and
only after the miss was, in words people read."""

from __future__ import annotations

from datetime import time

import pytest

from tests.schedules.test_watchdog import at, check, expect, good_run
from tests.support.factories import make_export
from webadmit_dash.core.models import UserIdentity
from webadmit_dash.schedules import news
from webadmit_dash.schedules.models import Expectation, Missing


@pytest.fixture(autouse=True)
def new_york(settings) -> None:
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def export(identity):
    return make_export(identity, 335158, "Nightly Banner Export")


@pytest.mark.django_db
class TestOutbox:
    def test_a_miss_is_told_once_then_its_all_clear_once(self, export):
        expect(export, since=at("2026-03-02", "08:00"))
        check(at("2026-03-03", "07:01"))
        (miss,) = news.untold_missing()
        notice = news.notice(miss)
        assert notice.kind == news.MISSING and notice.key == f"missing:{miss.pk}"
        assert notice.text == "Nightly Banner Export: expected by 07:00, nothing yet"
        assert notice.subject == "Missing: Nightly Banner Export (SOPHAS · School of Public Health)"
        assert notice.identity_id == export.identity_id
        assert news.untold_all_clear() == []
        assert news.mark_told([miss], at("2026-03-03", "07:02")) == 1
        assert news.mark_told([miss], at("2026-03-03", "07:03")) == 0  # a redelivered job tells nothing twice
        assert news.untold_missing() == []

        late = good_run(export, at("2026-03-03", "07:42"))
        check(at("2026-03-03", "07:43"))
        (cleared,) = news.untold_all_clear()
        notice = news.notice(cleared, all_clear=True)
        assert notice.kind == news.ARRIVED_LATE and notice.key == f"arrived_late:{miss.pk}"
        assert notice.text == "Nightly Banner Export: arrived at 07:42, 42 minutes late"
        assert notice.subject == "Arrived late: Nightly Banner Export (SOPHAS · School of Public Health)"
        assert notice.export_file_id == late.pk
        assert news.mark_told([cleared], at("2026-03-03", "07:44"), all_clear=True) == 1
        assert news.untold_all_clear() == []
        assert Missing.objects.get().cleared_told_at == at("2026-03-03", "07:44")

    def test_a_file_that_arrived_before_anyone_was_told_is_no_news(self, export):
        expect(export, since=at("2026-03-02", "08:00"))
        check(at("2026-03-03", "07:01"))
        good_run(export, at("2026-03-03", "07:02"))
        check(at("2026-03-03", "07:03"))
        assert news.untold_missing() == []
        assert news.untold_all_clear() == []

    def test_misses_of_disabled_expectations_or_identities_are_not_told(self, export):
        expect(export, since=at("2026-03-02", "08:00"))
        check(at("2026-03-03", "07:01"))
        Expectation.objects.update(enabled=False)
        assert news.untold_missing() == []
        Expectation.objects.update(enabled=True)
        UserIdentity.objects.update(enabled=False)
        assert news.untold_missing() == []

    def test_a_name_with_line_breaks_stays_on_one_subject_line(self, identity):
        hostile = make_export(identity, 7, "Banner\r\nBcc: victim@example.com")
        expectation = Expectation.objects.create(
            export=hostile, by_time=time(7), checked_through=at("2026-03-02", "08:00")
        )
        check(at("2026-03-03", "07:01"))
        (miss,) = news.untold_missing()
        assert miss.expectation == expectation
        assert "\n" not in news.notice(miss).subject and "\r" not in news.notice(miss).subject

    def test_words_of_lateness(self):
        from datetime import timedelta

        assert news._duration(timedelta(seconds=30)) == "1 minute"
        assert news._duration(timedelta(minutes=60)) == "1 hour"
        assert news._duration(timedelta(minutes=61)) == "1 hour 1 minute"
        assert news._duration(timedelta(days=1, hours=3)) == "1 day"
