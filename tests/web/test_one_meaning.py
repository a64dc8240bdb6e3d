"""One meaning of "failed" (and of handled) on every surface: one world of files, and the tab's title, the chips, the
page's filters, the API, the CSV and /metrics all count it the same way (core/states.py)."""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tests.support.factories import make_export, make_file
from tests.support.prometheus import parse
from tests.web.test_lifecycle import counts, supersede, title
from tests.web.test_recent_files import row_ids
from webadmit_dash.api import tokens
from webadmit_dash.core import states
from webadmit_dash.core.models import ChangeCounter, ExportFile, Kind, UserIdentity
from webadmit_dash.core.states import FileState
from webadmit_dash.web.filters import STATUS_VALUES
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(client: Client, staff_granted: User, identity: UserIdentity) -> dict[str, ExportFile]:
    """Every kind of file there is, once (twice for a failure needing attention, so that no count is a lucky 1):
    failures needing attention, one a person acknowledged (through the page, as they would), one a later run
    superseded, an empty list superseded, a running file, an available one, and one a destination refused."""
    now = timezone.now()

    def run(export_id: int, name: str, status: FileStatus, minutes_ago: int) -> ExportFile:
        export = make_export(identity, export_id, name)
        return make_file(identity, status, export=export, first_seen_at=now - timedelta(minutes=minutes_ago))

    files = {
        "failed": run(501, "Fee Waiver Report", FileStatus.FAILED, 50),
        "failed_too": run(502, "Interview Roster – Café Session", FileStatus.FAILED, 49),  # noqa: RUF001
        "acknowledged": run(503, "Transcript Audit", FileStatus.FAILED, 48),
        "superseded": run(504, "Nightly Banner Export", FileStatus.FAILED, 47),
        "rerun": run(504, "Nightly Banner Export", FileStatus.AVAILABLE, 20),
        "empty_superseded": run(505, "Slate Import", FileStatus.EMPTY_LIST, 46),
        "empty_rerun": run(505, "Slate Import", FileStatus.SUCCESS_WITH_ERRORS, 19),
        "running": run(506, "Weekly Roster", FileStatus.IN_PROGRESS, 10),
        "available": run(507, "Deposits", FileStatus.AVAILABLE, 9),
        "refused": run(508, "Applicants to SFTP", FileStatus.AVAILABLE, 8),
    }
    supersede(identity)
    # What collection writes when a destination refuses a file for good.
    seq = ChangeCounter.next_value()
    ExportFile.objects.filter(pk=files["refused"].pk).update(delivery_failed_at=now, change_seq=seq)
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=seq)
    client.force_login(staff_granted)
    assert client.post(f"/files/{files['acknowledged'].pk}/acknowledge/").status_code == 302
    return {name: ExportFile.objects.get(pk=f.pk) for name, f in files.items()}


# What the world holds, by state: the only numbers this test knows, and every surface must say them.
EXPECTED_STATES = {
    "failed": FileState.NEEDS_ATTENTION,
    "failed_too": FileState.NEEDS_ATTENTION,
    "acknowledged": FileState.ACKNOWLEDGED,
    "superseded": FileState.SUPERSEDED,
    "rerun": FileState.DONE,
    "empty_superseded": FileState.SUPERSEDED,
    "empty_rerun": FileState.DONE,
    "running": FileState.NEEDS_ATTENTION,
    "available": FileState.DONE,
    "refused": FileState.NEEDS_ATTENTION,
}
FAILED = ("failed", "failed_too")
HANDLED = ("acknowledged", "superseded", "empty_superseded")


def pks(world: dict[str, ExportFile], names: tuple[str, ...] | list[str]) -> set[int]:
    return {world[name].pk for name in names}


def named(state: FileState) -> list[str]:
    return [name for name, expected in EXPECTED_STATES.items() if expected is state]


def listed_total(html: str) -> int:
    return int(re.search(r"of (\d+) · <a", html).group(1))


def test_the_database_and_python_say_the_same_state_of_every_file(world):
    annotated = dict(ExportFile.objects.annotate(state=states.expression()).values_list("pk", "state"))
    for name, export_file in world.items():
        assert states.state_of(export_file) is EXPECTED_STATES[name], name
        assert annotated[export_file.pk] == EXPECTED_STATES[name], name
        # Exactly one condition holds for each file.
        held = [s for s, q in states.CONDITIONS.items() if ExportFile.objects.filter(q, pk=export_file.pk).exists()]
        assert held == [EXPECTED_STATES[name]], name


def test_the_title_and_the_chips_count_failed_and_handled_alike(client, world):
    html = client.get("/").content.decode()

    assert title(html) == "1 running · 2 failed · 1 delivery failed · Recent Files"
    chips = counts(html)
    assert chips["failed"] == len(FAILED)
    assert chips["handled"] == len(HANDLED)
    assert chips["delivery_failed"] == 1
    # Each file once among the status chips and Handled (Delivery failed counts some of them again, Running is the
    # group of the unfinished statuses' chips).
    assert (
        chips["all"]
        == len(world)
        == sum(n for name, n in chips.items() if name not in ("all", "delivery_failed", "running"))
    )
    assert chips["running"] == sum(chips[status] for status in ("initializing", "queued", "in_progress", "unknown"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", list(FAILED)),
        ("status=handled", list(HANDLED)),
        ("status=superseded", ["superseded", "empty_superseded"]),
        ("state=superseded", ["superseded", "empty_superseded"]),
        ("state=acknowledged", ["acknowledged"]),
        ("state=handled", list(HANDLED)),
        ("state=needs_attention", named(FileState.NEEDS_ATTENTION)),
        ("state=done", named(FileState.DONE)),
        ("status=failed&state=handled", []),
        ("status=failed&status=handled&state=acknowledged", ["acknowledged"]),
        ("status=available&status=delivery_failed", ["rerun", "available", "refused"]),
        ("status=delivery_failed&state=needs_attention", ["refused"]),
        ("status=empty_list", []),
        ("state=nonsense", list(EXPECTED_STATES)),  # the page drops what it does not know
    ],
)
def test_the_page_lists_what_its_counts_say(client, world, query, expected):
    response = client.get(f"/?{query}")
    assert response.status_code == 200
    assert set(row_ids(response)) == pks(world, expected)
    if expected:
        assert listed_total(response.content.decode()) == len(expected)


def csv_of(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_the_api_and_the_csv_say_each_files_state_and_filter_by_it(client, world, staff_granted):
    page = client
    api = Client(HTTP_AUTHORIZATION=f"Bearer {tokens.create(staff_granted, 'script').secret}")

    def items(query: str) -> dict[int, dict]:
        response = api.get(f"/api/v1/files?{query}")
        assert response.status_code == 200, response.content
        return {item["id"]: item for item in response.json()["items"]}

    every = items("")
    for name, export_file in world.items():
        item = every[export_file.pk]
        assert item["state"] == EXPECTED_STATES[name], name
        assert item["needs_attention"] is (EXPECTED_STATES[name] is FileState.NEEDS_ATTENTION), name
    acknowledged = every[world["acknowledged"].pk]
    assert acknowledged["acknowledged_by"] == "bob" and acknowledged["acknowledged_at"]
    assert every[world["superseded"].pk]["superseded_by"] == world["rerun"].pk
    assert every[world["failed"].pk]["acknowledged_by"] is None and every[world["failed"].pk]["superseded_by"] is None

    assert set(items("status=failed")) == pks(world, FAILED)
    # The page's addresses work as they are: superseded and handled are accepted, no 422.
    assert set(items("status=superseded")) == pks(world, ["superseded", "empty_superseded"])
    assert set(items("status=handled")) == set(items("state=handled")) == pks(world, HANDLED)
    assert set(items("state=acknowledged&state=superseded")) == pks(world, HANDLED)
    for state in FileState:
        assert set(items(f"state={state.value}")) == pks(world, named(state)), state
    # The one detail agrees with the list.
    detail = api.get(f"/api/v1/files/{world['acknowledged'].pk}").json()
    assert (detail["state"], detail["acknowledged_by"]) == ("acknowledged", "bob")

    csv_rows = csv_of(api.get("/api/v1/files.csv"))
    # The page's own "Export this list" gives the same rows.
    assert csv_of(page.get("/?format=csv")) == csv_rows
    by_id = {int(row["File id"]): row for row in csv_rows}
    assert len(by_id) == len(world)
    for name, export_file in world.items():
        assert by_id[export_file.webadmit_id]["State"] == EXPECTED_STATES[name].label, name
    failed_rows = [r for r in csv_rows if r["Status"] == "Failed" and r["State"] == FileState.NEEDS_ATTENTION.label]
    assert len(failed_rows) == len(FAILED)
    assert by_id[world["acknowledged"].webadmit_id]["Handled by"] == "bob"
    assert by_id[world["acknowledged"].webadmit_id]["Handled at (UTC)"]
    assert by_id[world["superseded"].webadmit_id]["Handled by"] == f"Later run (file {world['rerun'].webadmit_id})"
    assert by_id[world["failed"].webadmit_id]["Handled by"] == ""
    assert len(csv_of(api.get("/api/v1/files.csv?state=handled"))) == len(HANDLED)
    assert len(csv_of(page.get("/?format=csv&state=handled"))) == len(HANDLED)


def test_the_api_refuses_an_unknown_state_or_status_in_words(world, staff_granted):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {tokens.create(staff_granted, 'script').secret}")
    for query in ("state=nonsense", "status=settled"):
        for path in ("/api/v1/files", "/api/v1/files.csv"):
            response = api.get(f"{path}?{query}")
            assert response.status_code == 422, (path, query)
            message = response.json()["detail"][0]["msg"]
            assert "needs_attention" in message or "handled" in message, message


def test_metrics_count_files_by_status_and_state_as_the_title_does(client, world, settings):
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network("127.0.0.1")]
    samples = parse(client.get("/metrics").content.decode())
    files: dict[str, float] = {}
    series = 0
    for (n, labels), v in samples.items():
        if n == "webadmit_dash_files":
            # Summed over the kinds (export files and PDF Manager batches), as the page counts both.
            key = dict(labels)["status"] + "/" + dict(labels)["state"]
            files[key] = files.get(key, 0) + v
            series += 1
    # Every triple is reported (zeros too), and nothing else.
    assert series == len(Kind) * len(FileStatus) * len(FileState)
    assert files["failed/needs_attention"] == len(FAILED)
    assert sum(v for key, v in files.items() if key.endswith(("/superseded", "/acknowledged"))) == len(HANDLED)
    for state in FileState:
        assert sum(v for key, v in files.items() if key.endswith("/" + state.value)) == len(named(state)), state
    assert sum(files.values()) == len(world)


def test_the_api_accepts_exactly_the_pages_values():
    from webadmit_dash.api.schemas import ListStatus, StateFilter

    assert {s.value for s in ListStatus} == set(STATUS_VALUES)
    assert {s.value for s in StateFilter} == set(states.STATE_VALUES)


def test_the_page_says_which_states_its_address_narrows_it_to(client, world):
    html = client.get("/?state=handled&state=done&state=<script>").content.decode()
    assert (
        '<span class="filters__states" id="filter-states">Only: Done, Handled (superseded or acknowledged)</span>'
        in html
    )
    # Kept when a chip changes: the form sends it again.
    assert '<input type="hidden" name="state" value="done">' in html
    assert "filter-states" not in client.get("/?state=nonsense").content.decode()
