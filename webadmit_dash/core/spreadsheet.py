"""Cells safe to open in a spreadsheet, for every CSV the product writes (the Recent Files CSV, the bulk zip's index,
a batch's index delivered beside its zips), following OWASP's advice on CSV injection: a text cell a spreadsheet
could read as a formula gets a leading apostrophe, so a name like `=HYPERLINK(...)` is shown as text instead of run.
Writers quote every cell (csv.QUOTE_ALL), so a `,` or `;` inside a name never starts a cell of its own, and start
with a byte-order mark, so Excel opens accents and non-Latin names correctly.
"""

from __future__ import annotations

import re

BOM = "\ufeff"
# What a formula starts with, in ASCII and in the fullwidth forms that spreadsheets in East Asian locales read as
# the same; and the invisible characters a spreadsheet may skip before it (zero-width spaces, bidi marks, a BOM).
_FORMULA_CHARACTER = "[=+\\-@\uff1d\uff0b\uff0d\uff20]"
_INVISIBLE = "\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"
# A cell that starts a formula once leading whitespace (spaces, tabs, line breaks) and invisible characters are
# skipped.
_FORMULA = re.compile(f"[\\s{_INVISIBLE}]*{_FORMULA_CHARACTER}")
# Some spreadsheets skip a leading tab or line break before reading a formula, and some read one as a new cell.
_CONTROL_STARTS = ("\t", "\r", "\n")
# Where a spreadsheet may start a new cell inside ours: Excel splits on `;` where it is the list separator (much of
# Europe), and reading this comma-separated file that way it no longer keeps the quoting, so a line break inside a
# cell starts a new row too. What follows one of them and would start a formula there gets an apostrophe as well.
_FORMULA_INSIDE = re.compile(f"([;\\r\\n][ \\t{_INVISIBLE}]*)(?={_FORMULA_CHARACTER})")


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet will not run as a formula; numbers and empty cells pass unchanged."""
    if not isinstance(value, str):
        return value
    value = _FORMULA_INSIDE.sub(r"\1'", value)
    if value.startswith(_CONTROL_STARTS) or _FORMULA.match(value):
        return "'" + value
    return value
