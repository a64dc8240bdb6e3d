"""Markup for the many small pieces of a Recent Files page (its time tags and row cells), built fast.

Django's format_html escapes each value with django.utils.html.escape, which first checks every argument for lazy
translation strings; over the hundred-odd time tags and fifty rows of a page that check cost more than the rest of
their building. These pieces never hold lazy strings, so they are escaped here as Django's escape does it (the
standard library's html.escape), and values already safe (SafeString) are kept as they are, as format_html keeps them.
"""

from __future__ import annotations

import html

from django.utils.safestring import SafeString


def html_of(markup: str, **fields: str | int | SafeString) -> SafeString:
    """`markup` (a str.format template of named fields, trusted) with each field escaped unless already safe."""
    for name, value in fields.items():
        if not isinstance(value, SafeString):
            fields[name] = html.escape(value if type(value) is str else str(value))
    return SafeString(markup.format_map(fields))
