"""The simulator on a real socket: concurrency, quick shutdown, and its command line."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.processes import stop_process
from webadmit_dash.simulator import DEMO_API_KEY, SimulatedWorld, SimulatorServer
from webadmit_dash.simulator.data import HOSTILE_NAMES
from webadmit_dash.simulator.management.commands.simulate_webadmit import Command
from webadmit_dash.simulator.server import add_arguments, banner, build_server

ROOT = Path(__file__).resolve().parents[2]


def test_port_zero_picks_a_free_port_and_base_url_says_which() -> None:
    with SimulatorServer() as server:
        assert not server.base_url.endswith(":0")
        answer = requests.get(
            f"{server.base_url}/api/v1/user_identities", headers={"x-api-key": DEMO_API_KEY}, timeout=5
        )
    assert answer.status_code == 200


def test_it_serves_thirty_concurrent_slow_calls_in_parallel() -> None:
    world = SimulatedWorld(identities=30, files_per_identity=20)
    ids = [identity.id for identity in world.identities()]
    with SimulatorServer(world, {DEMO_API_KEY}, latency=0.2) as server, requests.Session() as session:

        def fetch(identity_id: int) -> int:
            url = f"{server.base_url}/api/v1/user_identities/{identity_id}/export_files"
            return session.get(url, headers={"x-api-key": DEMO_API_KEY}, timeout=10).status_code

        started = time.monotonic()
        fetch(ids[0])
        one_call = time.monotonic() - started

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=30) as pool:
            statuses = list(pool.map(fetch, ids))
        elapsed = time.monotonic() - started

    assert statuses == [200] * 30
    # A ratio to one call on the same (possibly busy) machine: 30 calls one after another take 30 times as long.
    assert elapsed < 10 * one_call, f"30 calls in {elapsed:.2f} s, one in {one_call:.2f} s"


def test_stopping_does_not_wait_for_a_hanging_request() -> None:
    server = SimulatorServer().start()
    server.world.add_fault("timeout", seconds=(hang := 60))
    with contextlib.suppress(requests.Timeout):
        requests.get(f"{server.base_url}/api/v1/user_identities", headers={"x-api-key": DEMO_API_KEY}, timeout=0.2)

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < hang / 30, "stopped without waiting for the 60 s hang"


def test_it_keeps_connections_alive_between_calls() -> None:
    with SimulatorServer() as server, requests.Session() as session:
        url = f"{server.base_url}/api/v1/user_identities"
        answers = [session.get(url, headers={"x-api-key": DEMO_API_KEY}, timeout=5) for _ in range(3)]
        pools = session.get_adapter(url).poolmanager.pools
        opened = sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118 - the container cannot iterate

        assert [answer.status_code for answer in answers] == [200] * 3
        assert answers[0].raw.version == 11
        assert opened == 1, "three calls, one connection"


def test_a_call_with_a_body_closes_its_connection_so_no_unread_bytes_reach_the_next_request() -> None:
    world = SimulatedWorld()
    identity = world.identities()[0]
    export = world.exports(identity.id)[0]
    with SimulatorServer(world) as server, requests.Session() as session:
        started = session.post(
            f"{server.base_url}/api/v1/user_identities/{identity.id}/exports/{export.id}/export_files",
            headers={"x-api-key": DEMO_API_KEY},
            json={"callback": "https://example.edu/hook", "padding": "x" * 5000},
            timeout=5,
        )
        listed = session.get(
            f"{server.base_url}/api/v1/user_identities/{identity.id}/export_files",
            headers={"x-api-key": DEMO_API_KEY},
            timeout=5,
        )

    assert started.headers.get("Connection") == "close"
    assert started.ok and listed.status_code == 200


def test_stopping_ends_kept_alive_connections() -> None:
    server = SimulatorServer().start()
    with requests.Session() as session:
        url = f"{server.base_url}/api/v1/user_identities"
        assert session.get(url, headers={"x-api-key": DEMO_API_KEY}, timeout=5).status_code == 200
        server.stop()

        with pytest.raises(requests.ConnectionError):
            session.get(url, headers={"x-api-key": DEMO_API_KEY}, timeout=5)


def parse(argv: list[str]) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return vars(parser.parse_args(argv))


def test_the_command_line_builds_the_world_and_app_it_describes() -> None:
    options = parse(
        [
            "--port=0",
            "--api-key=aaaa",
            "--api-key=bbbb",
            "--seed=9",
            "--identities=3",
            "--files-per-identity=4",
            "--pace=5",
            "--new-run-every=0",
            "--retention-days=0.5",
            "--initial=settled",
            "--lowercase-statuses",
            "--rate-limit=100",
            "--url-ttl=10",
            "--latency-ms=250",
            "--e4-status=201",
            "--fault=unavailable",
            "--fault=slow",
        ]
    )

    server = build_server(options)
    try:
        world, app = server.world, server.app
        assert (world.seed, len(world.identities()), world.pace, world.new_run_every) == (9, 3, 5.0, None)
        assert world.retention == 12 * 3600
        assert [fault.kind for fault in world.faults()] == ["unavailable", "slow"]
        assert (app.lowercase_statuses, app.url_ttl, app.latency, app.e4_status) == (True, 10.0, 0.25, 201)
        assert len(world.files(world.identities()[0].id)) == 4
        assert banner(server).startswith(f"WebAdMIT simulator at {server.base_url} (identities ")
    finally:
        server.stop()


def test_e4_answers_only_what_webadmit_is_known_to_answer() -> None:
    assert parse([])["e4_status"] == 200
    with pytest.raises(SystemExit):
        parse(["--e4-status=202"])


def test_without_a_key_it_takes_the_environment_then_the_demo_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBADMIT_SIMULATOR_API_KEY", "from-env")
    server = build_server(parse(["--port=0"]))
    server.stop()
    monkeypatch.delenv("WEBADMIT_SIMULATOR_API_KEY")
    demo = build_server(parse(["--port=0"]))
    demo.stop()

    assert server.app._api_keys == {"from-env"}
    assert demo.app._api_keys == {DEMO_API_KEY}


def test_the_management_command_takes_the_same_options_and_needs_no_database() -> None:
    command = Command()
    options = vars(
        command.create_parser("manage.py", "simulate_webadmit").parse_args(["--port", "8025", "--fault", "slow"])
    )

    assert command.requires_system_checks == []
    assert command.requires_migrations_checks is False
    assert (options["port"], options["fault"], options["api_keys"], options["e4_status"]) == (8025, ["slow"], None, 200)


def test_the_module_runs_as_a_program_and_prints_where_it_serves() -> None:
    # As an error, runpy's warning that a module it is about to run was already imported (so it would be twice).
    process = subprocess.Popen(
        [
            sys.executable,
            "-W",
            "error::RuntimeWarning",
            "-m",
            "webadmit_dash.simulator",
            "--port",
            "0",
            "--api-key",
            "k" * 32,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.split(" at ")[1].split(" ")[0]
        answer = requests.get(f"{base_url}/api/v1/user_identities", headers={"x-api-key": "k" * 32}, timeout=5)
        assert answer.status_code == 200
        first_id = int(line.split("(identities ")[1].split(",")[0])
        assert answer.json()["user_identities"][0]["id"] == first_id
    finally:
        stop_process(process, 5)


def test_hostile_names_name_every_identity_and_export_with_text_hostile_to_some_medium() -> None:
    assert parse([])["hostile_names"] is False
    server = build_server(parse(["--port=0", "--hostile-names", "--identities=2"]))
    try:
        world = server.world
        export_names = {export.name for export in world.exports()}
        assert export_names == set(HOSTILE_NAMES), "two identities of five exports name every hostile name"
        associations = {identity.association for identity in world.identities()}
        assert associations == {"Decision Letters\r\nBcc: everyone@example.org", "Nightly\x00Banner Export"}
        assert any(len(name) == 10_000 for name in export_names)
        # Downloads still work: a file name is one line, cut short.
        available = next(
            state
            for identity in world.identities()
            for state in world.files(identity.id)
            if state.status == "available"
        )
        download = world.download(available.id)
        assert download is not None and "\r" not in download.filename and "\x00" not in download.filename
        assert len(download.filename) <= 104
    finally:
        server.stop()
