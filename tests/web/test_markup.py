"""shared/markup.html_of: escapes as format_html does (so the row cells and time tags built with it are as safe as the
template's), keeps what is already safe, and is what the Recent Files row cells are built with."""

from __future__ import annotations

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from webadmit_dash.shared.markup import html_of

HOSTILE = "<script>alert('x')</script> & \"quoted\" Ünïcödé"


def test_plain_values_are_escaped_exactly_as_django_escapes_them():
    built = html_of('<span title="{title}">{text}</span>', title=HOSTILE, text=HOSTILE)

    assert built == format_html('<span title="{}">{}</span>', HOSTILE, HOSTILE)
    assert escape(HOSTILE) in built
    assert "<script>" not in built
    assert isinstance(built, SafeString)


def test_safe_values_are_kept_and_numbers_written():
    icon = mark_safe('<svg class="icon"></svg>')

    assert html_of("{icon}<b>{pk}</b>", icon=icon, pk=4412) == '<svg class="icon"></svg><b>4412</b>'
