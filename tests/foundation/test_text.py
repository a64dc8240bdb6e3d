"""The one place that decides what outside text becomes before it is kept or put on one line."""

import pytest

from webadmit_dash.core.text import clean, fit, one_line, without_nul


def test_nul_is_removed_before_text_is_stored():
    assert without_nul("Deci\x00sions") == "Decisions"
    assert clean("Deci\x00sions") == "Decisions"


def test_text_longer_than_its_column_is_cut_with_an_ellipsis():
    cut = clean("x" * 10_000, max_length=300)
    assert len(cut) == 300
    assert cut.endswith("…")
    assert fit("short", 300) == "short"


@pytest.mark.parametrize(
    "name",
    [
        "Daily\r\nBcc: everyone@example.edu",
        "Daily\nDecisions",
        "Daily\rDecisions",
        "Daily\u2028Decisions",
        "Daily\x85Decisions",
        "Daily\x00Decisions",
        "Daily\tDecisions",
    ],
)
def test_every_line_break_and_control_character_becomes_one_space(name):
    line = one_line(name)
    assert not any(ch in line for ch in "\r\n\t\x00\x85\u2028")
    assert line.startswith("Daily ")


def test_one_line_keeps_right_to_left_marks_and_accents_and_collapses_spaces():
    assert one_line("  Université \u200fde\n\n Montréal  ") == "Université \u200fde Montréal"


def test_one_line_text_can_be_cut_to_a_length():
    assert len(one_line("a\n" * 5_000, max_length=120)) == 120
