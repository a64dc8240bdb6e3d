"""Badges and times, as the templates render them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from webadmit_dash.shared.templatetags import display as tags
from webadmit_dash.webadmit.statuses import FileStatus


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "<1 min"),
        (59, "<1 min"),
        (60, "1 min"),
        (12 * 60 + 30, "12 min"),
        (3600, "1 h"),
        (2 * 3600 + 5 * 60, "2 h 5 min"),
        (7 * 3600 + 5 * 60, "7 h"),
        (86400, "1 day"),
        (3 * 86400 + 100, "3 days"),
        (-30, "<1 min"),  # a clock slightly ahead of ours
    ],
)
def test_spans_are_coarse_and_readable(seconds, words):
    assert tags.describe_span(seconds) == words


def test_ago_says_just_now_for_the_first_minute():
    assert tags.describe_ago(20) == "just now"
    assert tags.describe_ago(4 * 60) == "4 min ago"


def test_absolute_time_names_the_zone():
    moment = datetime(2026, 11, 29, 19, 3, 12, tzinfo=UTC)
    with timezone.override("America/New_York"):
        assert tags.absolute_time(moment) == "Sun 29 Nov 2026, 14:03:12 EST (America/New_York)"
    with timezone.override("UTC"):
        assert tags.absolute_time(moment) == "Sun 29 Nov 2026, 19:03:12 UTC"


def test_time_tags_carry_the_moment_for_the_browser_to_update():
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    with timezone.override("UTC"):
        html = tags.ago({"now": now}, now - timedelta(minutes=4))
    assert html == (
        '<time datetime="2026-11-29T11:56:00+00:00" data-rel="ago" '
        'title="Sun 29 Nov 2026, 11:56:00 UTC">4 min ago</time>'
    )
    assert tags.ago({}, None) == ""


@pytest.mark.parametrize("status", list(FileStatus))
def test_every_status_badge_has_words_an_icon_and_a_hint(status):
    html = tags.status_badge(status.value)
    assert f'<span class="badge__text">{status.label}</span>' in html
    assert '<use href="#i-' in html
    assert 'title="' in html


def test_an_unknown_status_shows_webadmits_words():
    html = tags.status_badge("unknown", "Archived")
    assert '<span class="badge__text">Archived</span>' in html
    assert "WebAdMIT says “Archived”" in html
    assert "&lt;script&gt;" in tags.status_badge("unknown", "<script>")
