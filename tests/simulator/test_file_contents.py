"""Downloads of a chosen size over real HTTP: the simulator streams deterministic files, `open_download` reads them.

The simulator is WebAdMIT's side and the fake S3 both; the client is the product's `webadmit.download`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.processes import stop_process
from webadmit_dash.simulator import DEMO_API_KEY, SimulatedWorld, SimulatorServer
from webadmit_dash.simulator.contents import expected_line_count, expected_sha256, file_bytes, parse_size
from webadmit_dash.simulator.management.commands.simulate_webadmit import Command
from webadmit_dash.simulator.server import add_arguments, build_server
from webadmit_dash.webadmit import DownloadBroken, LinkExpired, WebAdmitClient, make_session, open_download

ROOT = Path(__file__).resolve().parents[2]
CSV = "text/csv;charset=iso-8859-1"
TIMEOUTS = {"connect_timeout": 5.0, "read_timeout": 10.0}


@pytest.fixture
def world() -> SimulatedWorld:
    return SimulatedWorld(pace=0, new_run_every=0, file_size=3_000_000)


@pytest.fixture
def server(world: SimulatedWorld) -> Iterator[SimulatorServer]:
    with SimulatorServer(world, {DEMO_API_KEY}, url_ttl=25) as running:
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with make_session() as pooled:
        yield pooled


def available_file(world: SimulatedWorld, extension: str = "csv") -> tuple[int, int, str]:
    """(export id, file id, content type) of a new Available run of the first identity's export of that format."""
    identity_id = world.identities()[0].id
    export = next(export for export in world.exports(identity_id) if export.extension == extension)
    run = world.add_run(identity_id, export.id, outcome="available")
    return export.id, run.id, export.mime_type


def fresh_link(server: SimulatorServer, export_id: int, file_id: int) -> str:
    with WebAdmitClient(server.base_url, DEMO_API_KEY) as client:
        url = client.get_download_link(export_id, file_id).url
    assert url is not None
    return url


def read_all(url: str, session: requests.Session) -> tuple[bytes, str | None, int | None, str]:
    with open_download(session, url, **TIMEOUTS) as download:
        body = b"".join(download.chunks())
    return body, download.file_name, download.length, download.content_type


def test_the_whole_deterministic_file_arrives_and_its_sha256_is_known_in_advance(
    server: SimulatorServer, world: SimulatedWorld, session: requests.Session
) -> None:
    export_id, file_id, content_type = available_file(world)

    body, file_name, length, sent_type = read_all(fresh_link(server, export_id, file_id), session)

    assert len(body) == length == 3_000_000
    assert hashlib.sha256(body).hexdigest() == expected_sha256(file_id, 3_000_000, content_type)
    assert sent_type == content_type
    assert file_name == world.export(export_id).file_name  # type: ignore[union-attr]


def test_a_csv_file_is_latin_1_lines_of_whole_rows(
    server: SimulatorServer, world: SimulatedWorld, session: requests.Session
) -> None:
    export_id, file_id, _ = available_file(world)

    body, *_ = read_all(fresh_link(server, export_id, file_id), session)

    rows = list(csv.reader(io.StringIO(body.decode("iso-8859-1"), newline="")))
    assert body.count(b"\n") == len(rows) == expected_line_count(file_id, 3_000_000, CSV)
    assert {len(row) for row in rows} == {11}, "every line is a whole row, the padded last one too"
    assert rows[0][:2] == ["CAS ID", "First Name"]
    assert any("é" in cell for row in rows for cell in row), "accented names, as Latin-1 bytes"


@pytest.mark.parametrize("extension", ["csv", "xls", "txt", "html", "zip"])
@pytest.mark.parametrize("size", [1, 100, 1234, 262_145, 1_000_003])
def test_every_format_is_exactly_the_size_asked_and_the_same_however_it_is_read(extension: str, size: int) -> None:
    world = SimulatedWorld(pace=0, new_run_every=0, file_size=size)
    _, file_id, content_type = available_file(world, extension)

    download = world.download(file_id)

    assert download is not None and download.size == size
    in_big_chunks = b"".join(download.chunks())
    assert len(in_big_chunks) == size
    assert in_big_chunks == b"".join(file_bytes(file_id, size, content_type, chunk_size=1000))
    assert hashlib.sha256(in_big_chunks).hexdigest() == expected_sha256(file_id, size, content_type)
    if extension != "zip" and size > 1000:
        assert in_big_chunks.endswith(b"\r\n")


def test_a_zip_holds_two_csv_files_of_whole_rows() -> None:
    archive = b"".join(file_bytes(5, 200_000, "application/zip"))

    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert opened.testzip() is None
        members = [opened.read(name) for name in opened.namelist()]

    assert opened.namelist() == ["5_1.csv", "5_2.csv"]
    for member in members:
        rows = list(csv.reader(io.StringIO(member.decode("iso-8859-1"), newline="")))
        assert rows[0][0] == "CAS ID" and {len(row) for row in rows} == {11}


def test_files_differ_by_id_and_size() -> None:
    assert expected_sha256(1, 10_000, CSV) != expected_sha256(2, 10_000, CSV)
    assert expected_sha256(1, 10_000, CSV) != expected_sha256(1, 10_001, CSV)


def test_the_file_size_can_change_while_serving(
    server: SimulatorServer, world: SimulatedWorld, session: requests.Session
) -> None:
    export_id, file_id, content_type = available_file(world)
    answer = session.post(f"{server.base_url}/_simulator/settings", json={"file_size": 4321}, timeout=5)

    body, *_ = read_all(fresh_link(server, export_id, file_id), session)

    assert answer.status_code == 200 and answer.json()["settings"]["file_size"] == 4321
    assert hashlib.sha256(body).hexdigest() == expected_sha256(file_id, 4321, content_type)
    session.post(f"{server.base_url}/_simulator/settings", json={"file_size": None}, timeout=5)
    small, *_ = read_all(fresh_link(server, export_id, file_id), session)
    assert small == world.download(file_id).body and len(small) < 2000  # type: ignore[union-attr]


def test_files_of_exports_with_hostile_names_download_with_a_clean_name() -> None:
    world = SimulatedWorld(pace=0, new_run_every=0, hostile_names=True, identities=2)
    names = []
    with SimulatorServer(world, {DEMO_API_KEY}) as server, make_session() as session:
        for export in world.exports():
            run = world.add_run(export.identity_id, export.id, outcome="available")
            body, file_name, *_ = read_all(fresh_link(server, export.id, run.id), session)
            assert body == world.download(run.id).body  # type: ignore[union-attr]
            names.append(file_name)

    # Non-ASCII names arrive whole (S3 sends UTF-8); "/" cannot make a folder, nor a control character a new line.
    assert "Décisions d\u2019admission 🎓.zip" in names or "Décisions d\u2019admission 🎓.html" in names
    assert all(name and "/" not in name and "\r" not in name and "\u202e" not in name for name in names)


def test_a_streamed_download_keeps_the_connection_alive_for_the_next_call(
    server: SimulatorServer, world: SimulatedWorld, session: requests.Session
) -> None:
    export_id, file_id, _ = available_file(world)
    url = fresh_link(server, export_id, file_id)

    first, *_ = read_all(url, session)
    second, *_ = read_all(url, session)

    pools = session.get_adapter(url).poolmanager.pools
    opened = sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118 - the container cannot iterate
    assert first == second
    assert opened == 1, "two downloads, one connection"


def test_an_expired_link_is_link_expired(
    server: SimulatorServer, world: SimulatedWorld, session: requests.Session
) -> None:
    export_id, file_id, _ = available_file(world)
    url = fresh_link(server, export_id, file_id)
    world.advance(30)

    with pytest.raises(LinkExpired) as raised:
        open_download(session, url, **TIMEOUTS)

    assert not raised.value.permanent and raised.value.kind == "link_expired"
    assert "Request has expired" in raised.value.message
    assert "Signature" not in str(raised.value) and url not in repr(raised.value)


def test_a_cut_download_is_broken_and_the_next_one_is_whole(
    server: SimulatorServer, world: SimulatedWorld, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    export_id, file_id, content_type = available_file(world)
    fault = session.post(
        f"{server.base_url}/_simulator/faults",
        json={"kind": "cut_download", "times": 1, "after_bytes": 1_000_000},
        timeout=5,
    )
    caplog.set_level(logging.DEBUG)  # urllib3 logs each request's path: never its query string
    url = fresh_link(server, export_id, file_id)
    received = 0

    with open_download(session, url, **TIMEOUTS) as download, pytest.raises(DownloadBroken) as raised:
        for chunk in download.chunks():
            received += len(chunk)

    assert fault.status_code == 201 and fault.json()["fault"]["after_bytes"] == 1_000_000
    assert received == download.received == 1_000_000
    assert "1,000,000 of 3,000,000 bytes" in raised.value.message or "after 1,000,000 bytes" in raised.value.message
    assert not raised.value.permanent
    assert "Signature" not in str(raised.value) and "Signature" not in repr(download)
    assert world.faults() == [], "used up"

    body, *_ = read_all(fresh_link(server, export_id, file_id), session)
    assert hashlib.sha256(body).hexdigest() == expected_sha256(file_id, 3_000_000, content_type)
    assert "Signature=" not in caplog.text and "Expires=" not in caplog.text


def test_a_cut_download_by_default_sends_half(server: SimulatorServer, world: SimulatedWorld) -> None:
    export_id, file_id, _ = available_file(world)
    world.add_fault("cut_download")  # until cleared
    received = 0

    for _ in range(2):
        with (
            make_session() as session,
            open_download(session, fresh_link(server, export_id, file_id), **TIMEOUTS) as download,
            pytest.raises(DownloadBroken),
        ):
            for chunk in download.chunks():
                received += len(chunk)

    assert received == 2 * 1_500_000


@pytest.mark.parametrize(("after_bytes", "received"), [(0, 0), (5_000_000, 3_000_000)])
def test_a_cut_sends_the_headers_and_at_most_the_whole_body_then_closes(
    server: SimulatorServer, world: SimulatedWorld, after_bytes: int, received: int
) -> None:
    export_id, file_id, _ = available_file(world)
    world.add_fault("cut_download", times=1, after_bytes=after_bytes)

    with make_session() as session, open_download(session, fresh_link(server, export_id, file_id), **TIMEOUTS) as got:
        assert got.length == 3_000_000
        if received < got.length:
            with pytest.raises(DownloadBroken):
                list(got.chunks())
        else:
            assert len(b"".join(got.chunks())) == received

    assert got.received == received


def test_a_cut_download_fault_does_not_touch_api_calls(server: SimulatorServer, world: SimulatedWorld) -> None:
    world.add_fault("cut_download", times=1)
    with WebAdmitClient(server.base_url, DEMO_API_KEY) as client:
        assert client.list_user_identities()
    assert len(world.faults()) == 1


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ({"kind": "cut_download", "after_bytes": -1}, "after_bytes must not be negative"),
        ({"kind": "slow", "after_bytes": 10}, "after_bytes is for cut_download only"),
        ({"kind": "cut_download", "endpoint": "E5"}, "cut_download strikes downloads"),
    ],
)
def test_the_control_api_refuses_a_bad_cut(server: SimulatorServer, fault: dict[str, object], problem: str) -> None:
    answer = requests.post(f"{server.base_url}/_simulator/faults", json=fault, timeout=5)

    assert answer.status_code == 400 and problem in answer.json()["error"]


def parse(argv: list[str]) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize(
    ("text", "size"),
    [("1234", 1234), ("5MB", 5_000_000), ("500MB", 500_000_000), ("64KiB", 65_536), ("1.5 gb", 1_500_000_000)],
)
def test_file_size_takes_bytes_or_a_unit(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert parse([f"--file-size={text}"])["file_size"] == size


def test_without_file_size_downloads_are_the_small_seeded_files() -> None:
    assert parse([])["file_size"] is None


def test_the_management_command_takes_file_size_and_builds_a_world_with_it() -> None:
    options = vars(Command().create_parser("manage.py", "simulate_webadmit").parse_args(["--file-size", "5MB"]))
    options["port"] = 0

    server = build_server(options)
    server.stop()

    assert server.world.file_size == 5_000_000


@pytest.mark.parametrize("nonsense", ["lots", "5 parsecs", "-3MB", "0", ""])
def test_a_nonsense_file_size_is_refused_with_a_clear_message(
    nonsense: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse([f"--file-size={nonsense}"])

    error = capsys.readouterr().err
    assert "--file-size" in error and "not a file size" in error


# --- Memory ---------------------------------------------------------------------------------------------------

_CLIENT = textwrap.dedent(
    """
    import hashlib, json, sys
    from webadmit_dash.webadmit import make_session, open_download

    def high_water():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    before = high_water()
    digest, received = hashlib.sha256(), 0
    with make_session() as session, open_download(session, sys.argv[1], connect_timeout=5, read_timeout=30) as d:
        for chunk in d.chunks():
            digest.update(chunk)
            received += len(chunk)
    print(json.dumps({"before": before, "after": high_water(), "sha256": digest.hexdigest(), "bytes": received}))
    """
)


def _high_water(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_streaming_300_mb_grows_neither_process_by_more_than_50_mb() -> None:
    size = 300_000_000
    simulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "webadmit_dash.simulator", "--port=0", "--initial=settled", "--pace=0"),
            *("--new-run-every=0", f"--file-size={size}", "--url-ttl=60"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert simulator.stdout is not None
        base_url = simulator.stdout.readline().split(" at ")[1].split(" ")[0]
        with WebAdmitClient(base_url, DEMO_API_KEY) as client:
            identity = client.list_user_identities()[0]
            export_types = {export.id: export.mime_type for export in client.list_exports(identity.id)}
            ready = next(file for file in client.list_export_files(identity.id) if file.status.value == "available")
            # Warm the simulator's request path up, so what is measured is the download.
            client.get_download_link(ready.export_id, ready.id)
            simulator_before = _high_water(simulator.pid)
            url = client.get_download_link(ready.export_id, ready.id).url
        assert url is not None

        downloader = subprocess.run(
            [sys.executable, "-c", _CLIENT, url], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
        )
        simulator_after = _high_water(simulator.pid)
    finally:
        stop_process(simulator, 5)

    result = json.loads(downloader.stdout)
    assert result["bytes"] == size
    assert result["sha256"] == expected_sha256(ready.id, size, export_types[ready.export_id] or "")
    client_growth, simulator_growth = result["after"] - result["before"], simulator_after - simulator_before
    assert client_growth < 50 * 2**20, f"the client grew by {client_growth / 2**20:.0f} MB"
    assert simulator_growth < 50 * 2**20, f"the simulator grew by {simulator_growth / 2**20:.0f} MB"
