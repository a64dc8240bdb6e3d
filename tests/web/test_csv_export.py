"""Export this list: the Recent Files selection as CSV, for Excel and for scripts."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import pytest

from tests.support.factories import make_export, make_file
from webadmit_dash.web import csv_export
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


def download(client, **query) -> tuple[object, list[list[str]]]:
    response = client.get("/", {**query, "format": "csv"})
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode()), "UTF-8 with a byte-order mark, so Excel reads it as UTF-8"
    return response, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def page_ids(client, **query) -> list[int]:
    """The WebAdMIT file ids the page lists for these filters, every page of it."""
    ids: list[int] = []
    url, params = "/", dict(query)
    while True:
        context = client.get(url, params).context
        ids += [row.webadmit_id for row in context["files"]]
        if not context["next_query"]:
            return ids
        url, params = "/?" + context["next_query"], {}


def test_the_page_links_to_its_own_list_as_csv(client, admin_user, identity):
    make_file(identity, FileStatus.FAILED)
    client.force_login(admin_user)
    html = client.get("/", {"status": "failed", "q": "Banner"}).content.decode()
    assert 'href="?q=Banner&amp;status=failed&amp;format=csv" download>Export this list (CSV)</a>' in html


def test_the_csv_is_streamed_as_an_attachment(client, admin_user, identity):
    make_file(identity, FileStatus.AVAILABLE)
    client.force_login(admin_user)
    response, rows = download(client)
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="recent-files-')
    assert rows[0] == csv_export.HEADER


@pytest.mark.parametrize(
    "query",
    [{}, {"status": "failed"}, {"status": ["queued", "available"]}, {"status": "running"},
     {"status": ["running", "failed"]}, {"q": "Deposit"}, {"expired": "1"},
     {"association": "PharmCAS"}, {"identity": "__identity__"}],
)  # fmt: skip
def test_the_csv_has_the_same_rows_as_the_page_for_the_same_filters(
    client, admin_user, identity, other_identity, query
):
    deposit = make_export(other_identity, 7, "Deposit list")
    for n in range(60):  # more than one page of the table
        make_file(
            identity if n % 2 else other_identity, [FileStatus.AVAILABLE, FileStatus.FAILED, FileStatus.QUEUED][n % 3]
        )
    for n in range(5):
        make_file(other_identity, FileStatus.AVAILABLE, export=deposit, gone=n % 2 == 0)
    query = {key: (str(identity.pk) if value == "__identity__" else value) for key, value in query.items()}
    client.force_login(admin_user)
    _, rows = download(client, **query)
    listed = page_ids(client, **query)
    assert listed, "the filters select something"
    assert [int(row[0]) for row in rows[1:]] == listed


def test_a_name_that_is_a_formula_comes_out_as_text(client, admin_user, identity):
    for n, name in enumerate(["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tTabbed", "Plain = fine"]):
        make_file(identity, FileStatus.AVAILABLE, export=make_export(identity, 100 + n, name))
    client.force_login(admin_user)
    _, rows = download(client)
    names = {row[1] for row in rows[1:]}
    assert names == {"'=cmd|' /C calc'!A0", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tTabbed", "Plain = fine"}


# (what an export is named, what the CSV cell must read once parsed): every value a spreadsheet could read as a
# formula, after OWASP's CSV-injection guidance, and values that must pass unchanged.
FORMULA_NAMES = [
    ("=1+1", "'=1+1"),
    ("+1+1", "'+1+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    (" =1+1", "' =1+1"),
    ("  \t =cmd|' /C calc'!A0", "'  \t =cmd|' /C calc'!A0"),
    ("\n=1+1", "'\n'=1+1"),
    ("\r\n+1", "'\r\n'+1"),
    ("\tTabbed", "'\tTabbed"),
    ("\nLine", "'\nLine"),
    ("\uff1d1+1", "'\uff1d1+1"),  # fullwidth =
    ("\uff0b1", "'\uff0b1"),  # fullwidth +
    ("\uff0d1", "'\uff0d1"),  # fullwidth -
    ("\uff20SUM(A1)", "'\uff20SUM(A1)"),  # fullwidth @
    ("\u202e=1+1", "'\u202e=1+1"),  # a right-to-left override before it
    ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
    ("Report;=1+1", "Report;'=1+1"),
    ("Report; @SUM(A1)", "Report; '@SUM(A1)"),
    ("Report\n=1+1", "Report\n'=1+1"),
]
PLAIN_NAMES = ["Plain = fine", "Deposit; list", "Fall-2026", "Décisions \u2019 🎓", 'Say "hi", then go']


@pytest.fixture
def formula_csv(client, admin_user, identity) -> bytes:
    """The Recent Files CSV of one file per name of FORMULA_NAMES and PLAIN_NAMES, as the product writes it."""
    for n, name in enumerate([name for name, _ in FORMULA_NAMES] + PLAIN_NAMES):
        make_file(identity, FileStatus.AVAILABLE, export=make_export(identity, 100 + n, name))
    client.force_login(admin_user)
    return b"".join(client.get("/", {"format": "csv"}).streaming_content)


def test_every_cell_that_could_start_a_formula_reads_back_as_text_starting_with_an_apostrophe(formula_csv):
    rows = list(csv.reader(io.StringIO(formula_csv.decode("utf-8-sig"), newline="")))
    assert sorted(row[1] for row in rows[1:]) == sorted([cell for _, cell in FORMULA_NAMES] + PLAIN_NAMES)


def test_every_cell_is_quoted_so_a_separator_inside_a_name_never_starts_a_cell(formula_csv):
    lines = formula_csv.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith('"File id","Export",')
    assert '"Say ""hi"", then go"' in formula_csv.decode("utf-8-sig"), "embedded quotes doubled"


@pytest.mark.parametrize("separator", [",", ";"])
def test_libreoffice_opening_the_csv_with_formulas_evaluated_finds_no_formula(formula_csv, tmp_path, separator):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip(
            "LibreOffice is not installed (apt-get install libreoffice-calc-nogui); the csv-module tests still run"
        )
    source = tmp_path / "recent-files.csv"
    source.write_bytes(formula_csv)
    # LibreOffice's CSV import options: separator, quote, UTF-8, from line 1, ..., and "evaluate formulas" on, as a
    # person opening the file could choose; split on `;` too, as Excel does in much of Europe.
    options = f"{ord(separator)},34,76,1,,1033,false,true,false,false,false,-1,true"
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", f"--infilter=CSV:{options}",
         "--convert-to", "fods", "--outdir", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    sheet = (tmp_path / "recent-files.fods").read_text(encoding="utf-8")
    assert "table:formula=" not in sheet
    assert "Plain = fine" in sheet, "the sheet was read"


def test_numbers_are_not_escaped():
    assert csv_export.safe_cell(-5) == -5
    assert csv_export.safe_cell("") == ""
    assert csv_export.safe_cell("-5") == "'-5"


def test_the_csv_shows_only_what_the_user_may_see(client, staff_granted, identity, other_identity):
    mine = make_file(identity, FileStatus.AVAILABLE)
    make_file(other_identity, FileStatus.AVAILABLE)
    client.force_login(staff_granted)
    _, rows = download(client)
    assert [int(row[0]) for row in rows[1:]] == [mine.webadmit_id]
    _, rows = download(client, identity=str(other_identity.pk))
    assert rows[1:] == []


def test_the_csv_walks_past_one_chunk(client, admin_user, identity, monkeypatch):
    monkeypatch.setattr(csv_export, "CHUNK", 7)
    made = {make_file(identity, FileStatus.AVAILABLE).webadmit_id for _ in range(30)}
    client.force_login(admin_user)
    _, rows = download(client)
    ids = [int(row[0]) for row in rows[1:]]
    assert len(ids) == 30 and set(ids) == made


def test_the_csv_needs_sign_in(client):
    response = client.get("/", {"format": "csv"})
    assert response.status_code == 302
