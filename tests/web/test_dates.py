"""Dates on Recent Files (issue 23, point 6): "Tue 09:42 · 3 h ago" stamps and the clock-times-only preference, the
First seen date filter in the user's zone (page, poll, CSV, API), and "New since you last looked"."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.factories import make_file
from tests.web.test_poll import HTMX, poll_url
from tests.web.test_recent_files import HTMX_RESULTS, row_ids
from webadmit_dash.core.models import UserPreference
from webadmit_dash.shared.templatetags.display import activate_clock_only, describe_clock, time_stamp
from webadmit_dash.web import visits
from webadmit_dash.web.date_range import DateRange, midnight

NEW_YORK = ZoneInfo("America/New_York")
# Fourteen hours ahead of UTC: its "today" is UTC's tomorrow for most of the day, so a filter that forgot the
# user's zone picks the wrong day.
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")


# --- The words of a moment -----------------------------------------------------------------------------------


@pytest.fixture
def new_york():
    with timezone.override(NEW_YORK):
        yield


def test_a_moment_says_its_day_only_when_not_today(new_york):
    now = datetime(2026, 12, 5, 15, 0, tzinfo=NEW_YORK)  # a Saturday
    assert describe_clock(datetime(2026, 12, 5, 9, 42, tzinfo=NEW_YORK), now) == "09:42"
    assert describe_clock(datetime(2026, 12, 1, 9, 42, tzinfo=NEW_YORK), now) == "Tue 09:42"
    assert describe_clock(datetime(2026, 11, 28, 9, 42, tzinfo=NEW_YORK), now) == "28 Nov 09:42"
    assert describe_clock(datetime(2025, 12, 1, 9, 42, tzinfo=NEW_YORK), now) == "1 Dec 2025 09:42"


def test_a_stamp_is_the_clock_time_and_how_long_ago(new_york):
    now = datetime(2026, 12, 5, 15, 0, tzinfo=NEW_YORK)
    stamp = time_stamp(datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK), now)
    assert re.sub(r"<[^>]+>", "", stamp) == "Tue 12:00 · 4 days ago"
    # The relative part is a time element of its own, which app.js keeps true while the page stays open.
    assert '<time datetime="2026-12-01T12:00:00-05:00" data-rel="ago"' in stamp


def test_clock_times_only_drops_the_relative_part(new_york):
    now = datetime(2026, 12, 5, 15, 0, tzinfo=NEW_YORK)
    activate_clock_only(True)
    try:
        stamp = time_stamp(datetime(2026, 12, 5, 12, 0, tzinfo=NEW_YORK), now)
    finally:
        activate_clock_only(False)
    assert re.sub(r"<[^>]+>", "", stamp) == "12:00"
    assert "data-rel" not in stamp


# --- Day boundaries in the user's zone -------------------------------------------------------------------------


def test_a_dst_day_in_the_users_zone_is_23_or_25_hours_long():
    spring, autumn = date(2026, 3, 8), date(2026, 11, 1)
    assert midnight(spring + timedelta(days=1), NEW_YORK) - midnight(spring, NEW_YORK) == timedelta(hours=23)
    assert midnight(autumn + timedelta(days=1), NEW_YORK) - midnight(autumn, NEW_YORK) == timedelta(hours=25)
    assert midnight(autumn, NEW_YORK) == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # EDT, -4
    assert midnight(autumn + timedelta(days=1), NEW_YORK) == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)  # EST, -5


def test_a_midnight_the_zone_skips_starts_the_day_at_its_first_real_moment():
    santiago = ZoneInfo("America/Santiago")  # clocks jump from 00:00 to 01:00 on 6 September 2026
    start = midnight(date(2026, 9, 6), santiago)
    assert start.astimezone(santiago).time() == time(1, 0)
    assert start - midnight(date(2026, 9, 5), santiago) == timedelta(hours=24)


@pytest.mark.django_db
def test_today_on_the_autumn_dst_day_keeps_all_25_hours(identity):
    now = datetime(2026, 11, 1, 23, 30, tzinfo=NEW_YORK)
    first = make_file(identity, first_seen_at=datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK))
    last = make_file(identity, first_seen_at=datetime(2026, 11, 1, 23, 59, tzinfo=NEW_YORK))
    make_file(identity, first_seen_at=datetime(2026, 10, 31, 23, 59, tzinfo=NEW_YORK))
    make_file(identity, first_seen_at=datetime(2026, 11, 2, 0, 0, tzinfo=NEW_YORK))
    from webadmit_dash.core.models import ExportFile

    today = DateRange.parse(QueryDict("when=today")).condition(now, NEW_YORK)
    assert set(ExportFile.objects.filter(today).values_list("pk", flat=True)) == {first.pk, last.pk}
    yesterday = DateRange.parse(QueryDict("when=yesterday")).condition(now, NEW_YORK)
    assert ExportFile.objects.filter(yesterday).count() == 1


# --- Reading the URL ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("when=today", DateRange(when="today")),
        ("when=7d&seen_from=2026-12-01", DateRange(when="7d")),  # a preset outweighs dates left in the form
        ("seen_from=2026-12-01&seen_to=2026-12-04", DateRange("custom", date(2026, 12, 1), date(2026, 12, 4))),
        ("when=custom&seen_to=2026-12-04", DateRange("custom", None, date(2026, 12, 4))),
        ("when=custom", DateRange()),
        ("when=tomorrow", DateRange()),
        ("seen_from=2026-13-45", DateRange()),
        ("seen_from=20261201", DateRange()),  # ISO's short form: not what a link of ours carries
        ("seen_from=0001-01-01", DateRange()),
        ("seen_from=2026-12-04&seen_to=2026-12-01", DateRange()),
        ("seen_after=nonsense", DateRange()),
        ("seen_after=2026-12-05T08:10:00", DateRange()),  # no offset: which 08:10?
    ],
)
def test_the_url_is_read_and_what_cannot_be_is_dropped(query, expected):
    assert DateRange.parse(QueryDict(query)) == expected


def test_what_was_dropped_is_said_in_words():
    assert DateRange.parse(QueryDict("seen_from=2026-13-45")).problems == (
        "“2026-13-45” is not a date for “from”: write it as YYYY-MM-DD, e.g. 2026-12-01.",
    )
    (reversed_words,) = DateRange.parse(QueryDict("seen_from=2026-12-04&seen_to=2026-12-01")).problems
    assert reversed_words.startswith("The dates are the wrong way round: from 4 Dec 2026 is after to 1 Dec 2026.")


# --- The page, its poll, its CSV, the API ----------------------------------------------------------------------


def streamed(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


@pytest.fixture
def days(client, staff_granted, identity):
    """Four files first seen today, yesterday, 3 and 10 days ago in the staff member's zone (Kiritimati)."""
    UserPreference.objects.create(user=staff_granted, time_zone="Pacific/Kiritimati")
    client.force_login(staff_granted)  # the sign-in copies the zone into the session
    client.get("/")  # the first visit, out of the way
    today = timezone.now().astimezone(KIRITIMATI).date()

    def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(hour, minute), tzinfo=KIRITIMATI)

    return {
        "today": make_file(identity, first_seen_at=at(0, 0, 1)),
        "yesterday": make_file(identity, first_seen_at=at(1, 23, 59)),
        "3 days": make_file(identity, first_seen_at=at(3, 12)),
        "10 days": make_file(identity, first_seen_at=at(10, 12)),
        "dates": {n: (today - timedelta(days=n)).isoformat() for n in range(11)},
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("when=today", ["today"]),
        ("when=yesterday", ["yesterday"]),
        ("when=7d", ["today", "yesterday", "3 days"]),
        ("seen_from={3}&seen_to={1}", ["yesterday", "3 days"]),
        ("seen_to={4}", ["10 days"]),
        ("", ["today", "yesterday", "3 days", "10 days"]),
    ],
)
def test_the_page_keeps_the_days_asked_for_in_the_users_zone(client, days, query, kept):
    url = "/?" + query.format(*days["dates"].values())
    expected = [days[name].pk for name in kept]
    assert row_ids(client.get(url)) == expected
    assert row_ids(client.get(url, **HTMX_RESULTS)) == expected
    page = client.get(url).content.decode()
    assert re.search(r'id="count-all"[^>]*>(\d+)<', page).group(1) == str(len(kept))
    exported = list(csv.reader(io.StringIO(streamed(client.get(url + "&format=csv")))))
    assert len(exported) - 1 == len(kept)


@pytest.mark.django_db
def test_the_address_bar_and_the_poll_keep_the_range(client, days, identity):
    response = client.get("/?when=yesterday&q=", **HTMX_RESULTS)
    assert response["HX-Push-Url"] == "/?when=yesterday"
    poll = poll_url(client.get("/?when=yesterday").content.decode())
    assert "when=yesterday" in poll
    make_file(identity)  # today's: not in yesterday's list, so the poll offers nothing new
    answer = client.get(poll, **HTMX).content.decode()
    assert "new file" not in answer


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("seen_from=2026-13-45", "“2026-13-45” is not a date for “from”"),
        ("seen_from=2026-12-04&seen_to=2026-12-01", "The dates are the wrong way round"),
        ("seen_to=<script>", "“&lt;script&gt;” is not a date for “to”"),
    ],
)
def test_a_bad_date_is_left_out_and_said_so(client, days, query, words):
    response = client.get("/?" + query)
    assert response.status_code == 200
    page = response.content.decode()
    assert words in page and "Those dates were left out." in page
    assert len(row_ids(response)) == 4


@pytest.mark.django_db
def test_an_unknown_preset_is_dropped_quietly(client, days):
    response = client.get("/?when=tomorrow")
    assert response.status_code == 200 and len(row_ids(response)) == 4


# --- Clock times only ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_clock_times_only_preference_is_saved_and_honoured(client, staff_granted, identity):
    make_file(identity, first_seen_at=timezone.now() - timedelta(hours=3))
    client.force_login(staff_granted)
    assert " ago</time>" in client.get("/").content.decode()
    preferences = client.get("/preferences/").content.decode()
    assert 'name="absolute_times"' in preferences and "Clock times only" in preferences
    client.post("/preferences/", {"time_zone": "", "absolute_times": "on"})
    assert UserPreference.objects.get(user=staff_granted).absolute_times
    page = client.get("/").content.decode()
    assert "ago</time>" not in page and 'data-rel="ago"' not in page
    client.logout()
    client.force_login(staff_granted)  # a new sign-in reads it from the preference
    assert 'data-rel="ago"' not in client.get("/").content.decode()
    client.post("/preferences/", {"time_zone": ""})
    assert 'data-rel="ago"' in client.get("/").content.decode()


# --- Visits and "New since you last looked" ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_visit_is_page_loads_with_no_gap_longer_than_the_visit_gap(staff_granted):
    session = SessionStore()
    start = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    user = staff_granted.pk
    assert visits.page_load(user, session, start) is None  # the first visit ever: nothing is new
    assert visits.page_load(user, session, start + timedelta(minutes=20)) is None
    assert visits.page_load(user, session, start + timedelta(minutes=45)) is None  # 25 min after the last load
    # An hour away: a new visit, new since the last load of the one before (08:45), not its start (08:00).
    back = start + timedelta(minutes=45) + visits.VISIT_GAP + timedelta(seconds=1)
    assert visits.page_load(user, session, back) == start + timedelta(minutes=45)
    assert visits.page_load(user, session, back + timedelta(minutes=5)) == start + timedelta(minutes=45)
    assert visits.last_looked(user, session) == start + timedelta(minutes=45)
    preference = UserPreference.objects.get(user=staff_granted)
    assert preference.visit_started_at == back and preference.last_seen_at == back + timedelta(minutes=5)
    # The phone, signed in later within the same visit, sees the same "new since" (the row is the truth)...
    phone = SessionStore()
    assert visits.last_looked(user, phone) == start + timedelta(minutes=45)
    assert visits.page_load(user, phone, back + timedelta(minutes=10)) == start + timedelta(minutes=45)
    # ...and a visit begun on the laptop after a long break ends the phone's too.
    later = back + timedelta(minutes=10) + visits.VISIT_GAP + timedelta(minutes=1)
    assert visits.page_load(user, session, later) == back + timedelta(minutes=10)


@pytest.mark.django_db
def test_page_loads_within_a_minute_touch_no_row_and_the_poll_none(client, staff_granted, identity):
    make_file(identity)
    client.force_login(staff_granted)
    client.get("/")  # a visit begins: its row is read and written once
    with CaptureQueriesContext(connection) as page:
        html = client.get("/").content.decode()
    assert not [q for q in page.captured_queries if "userpreference" in q["sql"]]
    assert not [q for q in page.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    # A minute later the visit's last page load moves on: one UPDATE of the row (and the session's copy).
    session = client.session
    kept = session[visits.SESSION_KEY]
    session[visits.SESSION_KEY] = [(timezone.now() - visits.TOUCH_EVERY).isoformat(), kept[1]]
    session.save()
    with CaptureQueriesContext(connection) as touched:
        client.get("/")
    writes = [q["sql"] for q in touched.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    assert [w for w in writes if "dashboard_userpreference" in w] and len(writes) == 2, writes
    with CaptureQueriesContext(connection) as results:
        client.get("/?status=available", **HTMX_RESULTS)
    assert not [q for q in results.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    with CaptureQueriesContext(connection) as unchanged:
        assert client.get(poll_url(html), **HTMX).status_code == 204
    assert len(unchanged) <= 4  # the session, the user, the change counter and the version
    make_file(identity)
    with CaptureQueriesContext(connection) as changed:
        assert client.get(poll_url(html), **HTMX).status_code == 200
    assert not [q for q in changed.captured_queries if "userpreference" in q["sql"]]


@pytest.mark.django_db
def test_rows_first_seen_since_the_last_visit_are_marked_new(client, staff_granted, identity):
    client.force_login(staff_granted)
    old = make_file(identity, first_seen_at=timezone.now() - timedelta(hours=3))
    client.get("/")
    # The visit ends: the last look was two hours ago, and a file came since.
    UserPreference.objects.filter(user=staff_granted).update(last_seen_at=timezone.now() - timedelta(hours=2))
    session = client.session
    session.pop(visits.SESSION_KEY)
    session.save()
    new = make_file(identity, first_seen_at=timezone.now() - timedelta(hours=1))
    page = client.get("/").content.decode()
    rows = dict(re.findall(r'<tr id="file-(\d+)"(.*?)</tr>', page, re.S))
    marked = '<span class="new-mark" title="First seen since you last looked">New<span class="visually-hidden">'
    assert marked in rows[str(new.pk)] and "new-mark" not in rows[str(old.pk)]
    assert "1 file first seen since you last looked" in page
    link = re.search(r'id="visit-note".*?href="\?([^"]+)"', page, re.S).group(1).replace("&amp;", "&")
    assert "seen_after=" in link
    only_new = client.get("/?" + link)
    assert row_ids(only_new) == [new.pk]
    assert "Showing files first seen since you last looked" in only_new.content.decode()
    # Reloading within the visit keeps the marks; the poll carries the moment without asking the database.
    assert 'class="new-mark"' in client.get("/").content.decode()
    assert "new=" in poll_url(page)
