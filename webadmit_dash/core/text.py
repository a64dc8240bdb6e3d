"""Text that comes from outside (WebAdMIT's names, a proxy's header, a form) made safe to keep and to show.

WebAdMIT's export and identity names are free text typed by people: they may hold NUL, CR/LF, thousands of
characters or markup. PostgreSQL refuses NUL in text and anything longer than a varchar's length (SQLite accepts
both), and a mail header refuses a line break. These helpers are the one place that decides what such text becomes;
escaping for a particular medium (HTML, Slack, CSV) stays with that medium.
"""

import re
import unicodedata

ELLIPSIS = "…"

# Everything that breaks a line or is invisible control: C0/C1 controls (CR, LF, TAB, NUL, NEL…) and Unicode's line
# and paragraph separators. Format characters (bidi marks and the like, category Cf) are kept: they are legitimate in
# names written right to left, and every medium escapes or encodes them.
_LINE_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")


def without_nul(value: str) -> str:
    """The text without NUL characters, which PostgreSQL cannot store in a text column."""
    return value.replace("\x00", "")


def has_line_breaks_or_controls(value: str) -> bool:
    """Whether the text holds anything one_line would replace: fine in a name shown on a page, not in an identifier."""
    return _LINE_BREAKS_AND_CONTROLS.search(value) is not None


def fit(value: str, max_length: int) -> str:
    """The text cut to max_length characters, ending in an ellipsis when it was cut."""
    if len(value) <= max_length:
        return value
    return value[: max_length - len(ELLIPSIS)].rstrip() + ELLIPSIS


def clean(value: str, max_length: int | None = None) -> str:
    """Text safe to store: NUL removed, NFC-normalised, and cut to the column's length if one is given."""
    value = unicodedata.normalize("NFC", without_nul(value))
    return fit(value, max_length) if max_length is not None else value


def one_line(value: str, max_length: int | None = None) -> str:
    """Text for a single line (a mail subject, a webhook title, a file name): every line break and control
    character becomes one space, runs of spaces collapse, and the result is cut to max_length if one is given."""
    value = _LINE_BREAKS_AND_CONTROLS.sub(" ", value)
    value = _SPACES.sub(" ", value).strip()
    return fit(value, max_length) if max_length is not None else value
