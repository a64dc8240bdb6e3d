"""Delivered file names: the template filled in and made safe whatever WebAdMIT's names hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import override_settings

from webadmit_dash.collection import naming

FINISHED = datetime(2026, 12, 5, 15, 42, 7, tzinfo=UTC)


def _fields(export: str = "Nightly Banner Export", **changes: object) -> naming.NameFields:
    values: dict[str, object] = {
        "export": export,
        "identity": "SOPHAS · School of Public Health",
        "cycle": "2026 - 2027",
        "file_id": 9_007_199_254_740_993,
        "export_id": 335158,
        "ext": "csv",
        "finished": FINISHED,
        **changes,
    }
    return naming.NameFields(**values)  # type: ignore[arg-type]


@override_settings(TIME_ZONE="America/New_York")
def test_the_default_template_gives_export_time_in_the_institutions_zone_and_file_id() -> None:
    assert (
        naming.render(naming.DEFAULT_TEMPLATE, _fields()) == "Nightly_Banner_Export_20261205_1042_9007199254740993.csv"
    )


@pytest.mark.parametrize(
    "export",
    [
        "../../etc/passwd",
        "Line one\r\nLine two",
        "NUL\x00inside",
        "<script>alert(1)</script>",
        '=HYPERLINK("http://x")',
        "Ünïcödé Ëxport \u2013 ñ",
        "x" * 10_000,
        "/",
        "\u202egnp.exe",
    ],
)
def test_hostile_export_names_give_one_safe_file_name(export: str) -> None:
    name = naming.render(naming.DEFAULT_TEMPLATE, _fields(export))
    assert name.endswith(".csv")
    assert len(name) <= naming.MAX_LENGTH
    assert "/" not in name and "\\" not in name and ".." not in name
    assert name.isascii() and name.isprintable() and not name.startswith(".")


def test_accents_are_folded_rather_than_dropped() -> None:
    assert naming.render("{export}.{ext}", _fields("Ünïcödé Ëxport")) == "Unicode_Export.csv"


def test_a_template_that_climbs_out_of_its_folder_stays_in_it() -> None:
    assert "/" not in naming.render("../{export}/../../x.{ext}", _fields())


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{export}_{applicant}.{ext}", "{applicant}, which is not one of"),
        ("{export", "not valid"),
        ("{finished:%Y%m%d}{file_id:%Y}", "cannot be filled in"),
    ],
)
def test_a_bad_template_is_refused_in_words(template: str, words: str) -> None:
    with pytest.raises(naming.BadTemplate, match=words.replace("{", r"\{").replace("}", r"\}")):
        naming.check_template(template)


def test_the_default_template_is_accepted() -> None:
    naming.check_template(naming.DEFAULT_TEMPLATE)


def test_a_batchs_part_goes_before_the_extension_and_a_long_name_is_cut_to_make_room() -> None:
    assert (
        naming.with_suffix("Transcripts_20261205_1042_77.zip", "_part2of3")
        == "Transcripts_20261205_1042_77_part2of3.zip"
    )
    long = naming.render("{export}.{ext}", _fields("N" * 500, ext="zip"))
    named = naming.with_suffix(long, "_part12of12")
    assert len(named) == naming.MAX_LENGTH and named.endswith("N_part12of12.zip")
