"""Status badges and times for the dashboard's templates.

Relative times ("4 min ago") are rendered here for the first paint and for pages without JavaScript;
static/js/app.js recomputes the same words from the `datetime` attribute as the minutes pass, so both sides must
phrase them alike (see `describe_span`).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from webadmit_dash.shared.markup import html_of
from webadmit_dash.webadmit.statuses import FileStatus

register = template.Library()


# A badge's colour (badge--<tone> in the stylesheet), always beside an icon and words.
Tone = Literal["running", "ok", "warn", "muted", "bad", "unknown"]


@dataclass(frozen=True)
class BadgeStyle:
    icon: str
    tone: Tone
    hint: str


# Text, icon and colour together, so no status is told apart by colour alone.
BADGES: dict[FileStatus, BadgeStyle] = {
    FileStatus.INITIALIZING: BadgeStyle("i-dots", "running", "WebAdMIT is preparing the run."),
    FileStatus.QUEUED: BadgeStyle("i-clock", "running", "Waiting for WebAdMIT to start generating the file."),
    FileStatus.IN_PROGRESS: BadgeStyle("i-spinner", "running", "WebAdMIT is generating the file."),
    FileStatus.AVAILABLE: BadgeStyle("i-check", "ok", "The file is ready to download."),
    FileStatus.SUCCESS_WITH_ERRORS: BadgeStyle(
        "i-check-warn", "warn", "The file is ready, but WebAdMIT reported errors while generating it."
    ),
    FileStatus.EMPTY_LIST: BadgeStyle("i-empty", "muted", "The list matched no applicants: there is no file."),
    FileStatus.FAILED: BadgeStyle("i-cross", "bad", "WebAdMIT could not generate the file."),
    FileStatus.UNKNOWN: BadgeStyle("i-question", "unknown", "WebAdMIT sent a status this dashboard does not know."),
}


@register.simple_tag
def svg_icon(name: str) -> SafeString:
    """One symbol of templates/icons.svg, decorative (the words beside it say what it means)."""
    return format_html('<svg class="icon" aria-hidden="true" focusable="false"><use href="#{}"></use></svg>', name)


def _icon(status: FileStatus) -> SafeString:
    return svg_icon(BADGES[status].icon)


def _badge(status: FileStatus, label: str, hint: str) -> SafeString:
    return format_html(
        '<span class="badge badge--{} badge--{}" title="{}">{}<span class="badge__text">{}</span></span>',
        BADGES[status].tone,
        status.value.replace("_", "-"),
        hint,
        _icon(status),
        label,
    )


# Rendered once: a page shows fifty badges, all of them one of these eight.
_ICONS = {status: _icon(status) for status in FileStatus}
_BADGES = {status: _badge(status, status.label, BADGES[status].hint) for status in FileStatus}


@register.simple_tag
def status_icon(status: str) -> SafeString:
    return _ICONS[FileStatus(status)]


@register.simple_tag
def status_badge(status: str, raw_status: str = "") -> SafeString:
    """A badge for a file's status; an unknown status shows WebAdMIT's own words."""
    status = FileStatus(status)
    if status is FileStatus.UNKNOWN and raw_status:
        return _badge(status, raw_status, f"WebAdMIT says “{raw_status}”, a status this dashboard does not know yet.")
    return _BADGES[status]


def describe_span(seconds: float) -> str:
    """A coarse, readable length of time: "3 min", "2 h 5 min", "4 days". Mirrored in static/js/app.js."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes and hours < 6 else f"{hours} h"
    days = hours // 24
    return f"{days} day" if days == 1 else f"{days} days"


@register.filter
def span(value: timedelta | None) -> str:
    """A timedelta in describe_span's words ("4 min"), for how long a step took."""
    return "" if value is None else describe_span(value.total_seconds())


def describe_ago(seconds: float) -> str:
    return "just now" if seconds < 60 else f"{describe_span(seconds)} ago"


@register.filter
def absolute_time(value: datetime | None) -> str:
    """ "Sat 29 Nov 2026, 14:03:12 EST (America/New_York)": the exact moment, with its zone named."""
    if value is None:
        return ""
    zone = timezone.get_current_timezone()
    return _absolute(value.astimezone(zone), zone)


def _absolute(local: datetime, zone: tzinfo) -> str:
    abbreviation = local.tzname() or ""
    named = abbreviation if abbreviation == str(zone) else f"{abbreviation} ({zone})"
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b %Y, %H:%M:%S')} {named}"


# A moment's two tags: a clock time, and a relative time that static/js/app.js ages (data-rel). Their fields are
# named so that time_stamp can put both in one format_html, escaping the moment's attributes once: a page's fifty
# stamps are counted in milliseconds.
_CLOCK_TAG = '<time datetime="{iso}" title="{title}">{clock}</time>'
_RELATIVE_TAG = '<time datetime="{iso}" data-rel="{mode}" title="{title}">{relative}</time>'
_STAMP = f'<span class="stamp">{_CLOCK_TAG}<span class="stamp__ago"> · {_RELATIVE_TAG}</span></span>'


def _time_tag(value: datetime, mode: Literal["ago", "for"], text: str) -> SafeString:
    return html_of(_RELATIVE_TAG, iso=value.isoformat(), mode=mode, title=absolute_time(value), relative=text)


def describe_clock(value: datetime, now: datetime, *, seconds: bool = False) -> str:
    """ "14:05" today, "Tue 14:05" within a week of today, "28 Nov 14:05" further off ("28 Nov 2025 14:05" in
    another year), in the current zone: a moment short enough for a row. `seconds` for events seconds apart
    ("14:05:09"). THE words for a moment: every clock and stamp below says it this way."""
    zone = timezone.get_current_timezone()
    return _clock(value.astimezone(zone), now.astimezone(zone).date(), seconds=seconds)


def _clock(local: datetime, today: date, *, seconds: bool = False) -> str:
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    days = (today - local.date()).days
    if days == 0:
        return clock
    # A weekday names one day only within a week either side; past that the date does.
    if -7 < days < 7:
        return f"{local.strftime('%a')} {clock}"
    if local.year != today.year:
        return f"{local.day} {local.strftime('%b %Y')} {clock}"
    return f"{local.day} {local.strftime('%b')} {clock}"


# Whether this request's user asked for clock times only (UserPreference.absolute_times): set for each request by
# web.middleware.UserTimezoneMiddleware from the session, as Django activates the user's time zone, so the fifty
# rows of a page need neither a query nor an argument passed down to each time they show. A context variable, as
# safe per thread and per task as asgiref's Local and read in a tenth of the time: a page reads it a hundred times.
_CLOCK_ONLY: ContextVar[bool] = ContextVar("clock_only", default=False)


def activate_clock_only(clock_only: bool) -> None:
    _CLOCK_ONLY.set(clock_only)


def clock_only() -> bool:
    return _CLOCK_ONLY.get()


def clock_time(value: datetime, now: datetime, *, seconds: bool = False) -> SafeString:
    """ "14:05" (see describe_clock), with the exact moment and zone on hover."""
    clock = describe_clock(value, now, seconds=seconds)
    return html_of(_CLOCK_TAG, iso=value.isoformat(), title=absolute_time(value), clock=clock)


def time_ago(value: datetime, now: datetime) -> SafeString:
    """ "4 min ago", with the absolute time and zone on hover; the clock time ("09:42") for who asked for clock
    times only."""
    if clock_only():
        return clock_time(value, now)
    return _time_tag(value, "ago", describe_ago((now - value).total_seconds()))


def time_stamp(value: datetime, now: datetime) -> SafeString:
    """ "Tue 09:42 · 3 h ago": when something happened, as a clock time (describe_clock) and how long ago; the clock
    time alone for who asked for clock times only. The relative part is a `time[data-rel]` of its own, which
    static/js/app.js keeps true while the page stays open."""
    if clock_only():
        return format_html('<span class="stamp">{}</span>', clock_time(value, now))
    zone = timezone.get_current_timezone()  # once for both tags: a page shows fifty stamps
    local = value.astimezone(zone)
    return html_of(
        _STAMP,
        iso=value.isoformat(),
        title=_absolute(local, zone),
        clock=_clock(local, now.astimezone(zone).date()),
        mode="ago",
        relative=describe_ago((now - value).total_seconds()),
    )


def time_lasting(value: datetime, now: datetime) -> SafeString:
    """ "12 min" since `value`, for "queued for 12 min"; the start is on hover."""
    return _time_tag(value, "for", describe_span((now - value).total_seconds()))


@register.simple_tag(takes_context=True)
def ago(context: template.Context, value: datetime | None) -> SafeString | str:
    return "" if value is None else time_ago(value, _now(context))


@register.simple_tag(takes_context=True)
def stamp(context: template.Context, value: datetime | None) -> SafeString | str:
    return "" if value is None else time_stamp(value, _now(context))


@register.simple_tag(takes_context=True)
def ago_aside(context: template.Context, value: datetime | None) -> SafeString | str:
    """ " (3 h ago)" beside an exact time that is already written out; nothing for who asked for clock times only."""
    if value is None or clock_only():
        return ""
    return format_html(" ({})", time_ago(value, _now(context)))


@register.simple_tag(takes_context=True)
def clock(context: template.Context, value: datetime | None) -> SafeString | str:
    return "" if value is None else clock_time(value, _now(context))


@register.simple_tag(takes_context=True)
def lasting(context: template.Context, value: datetime | None) -> SafeString | str:
    return "" if value is None else time_lasting(value, _now(context))


def _now(context: template.Context) -> datetime:
    # One clock per render, so every time on a page is measured from the same instant.
    now = context.get("now")
    return now if isinstance(now, datetime) else timezone.now()


_SIZE_UNITS = ("kB", "MB", "GB", "TB")


@register.filter
def file_size(value: int | None) -> str:
    """ "1.2 MB": bytes in decimal units (as file managers and S3 consoles count them), exact below a kilobyte."""
    if value is None:
        return ""
    if value < 1000:
        return "1 byte" if value == 1 else f"{value} bytes"
    size = float(value)
    for unit in _SIZE_UNITS:
        size /= 1000
        shown = f"{size:.1f}" if size < 99.95 else f"{size:.0f}"
        # Rounding can reach 1000 of a unit: that is one of the next.
        if float(shown) < 1000 or unit == _SIZE_UNITS[-1]:
            return f"{shown} {unit}"
    raise AssertionError("unreachable")


@register.filter
def thousands(value: int | None) -> str:
    """ "3,401": a count people read at a glance."""
    return "" if value is None else f"{value:,}"


@register.simple_tag
def options(choices: Iterable[tuple[str, str, bool]]) -> SafeString:
    """<option>s from (value, label, selected) triples. Django's widget templates would render each option
    through a template, ~0.15 ms apiece: too much for the 500 identities a superuser's filter lists."""
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, " selected" if selected else "", label) for value, label, selected in choices),
    )
