"""The simulator calls back as WebAdMIT does: a run started through E4 with a `callback` (JSON body or query string)
is form-POSTed `export_file[id]`, `export_file[export_id]` and `export_file[status]` when it reaches a final status,
from a thread of its own (a slow receiver never holds up the API); its settings drop or delay the calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests

from tests.support.waiting import SERVER_POLL_INTERVAL, eventually
from webadmit_dash.simulator import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer

KEY = "0123456789abcdef0123456789abcdef"


class Receiver:
    """A real HTTP server standing in for the dashboard's callback endpoint: records every call, answers 204
    (after `hold` seconds, to play a slow receiver)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str], float]] = []
        self.hold = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                fields = {name: values[0] for name, values in parse_qs(body).items()}
                receiver.calls.append((self.path, self.headers.get("Content-Type", ""), fields, time.monotonic()))
                time.sleep(receiver.hold)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": SERVER_POLL_INTERVAL}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def world() -> SimulatedWorld:
    return SimulatedWorld(seed=3, identities=1, files_per_identity=2, pace=86_400, new_run_every=None)


@pytest.fixture
def simulator(world: SimulatedWorld) -> Iterator[SimulatorServer]:
    with SimulatorServer(world, api_keys=[KEY]) as server:
        yield server


def start(simulator: SimulatorServer, *, body: object = None, query: str = "") -> dict:
    identity = simulator.world.identities()[0]
    export = simulator.world.exports(identity.id)[0]
    url = f"{simulator.base_url}/api/v1/user_identities/{identity.id}/exports/{export.id}/export_files{query}"
    response = requests.post(url, json=body, headers={"x-api-key": KEY}, timeout=5)
    return {"status": response.status_code, **response.json()}


def control(simulator: SimulatorServer, path: str, body: dict) -> requests.Response:
    return requests.post(f"{simulator.base_url}/_simulator/{path}", json=body, timeout=5)


def test_a_run_started_with_a_callback_is_called_back_when_it_finishes(simulator, receiver):
    run = start(simulator, body={"callback": f"{receiver.url}/webadmit/callback/abc/"})["export_files"]
    time.sleep(0.5)
    assert receiver.calls == [], "no call while the run is unfinished"

    control(simulator, f"files/{run['id']}", {"status": "Available"})
    eventually(lambda: receiver.calls, timeout=5, what="the callback")
    path, content_type, fields, _ = receiver.calls[0]
    assert path == "/webadmit/callback/abc/"
    assert content_type == "application/x-www-form-urlencoded"
    assert fields == {
        "export_file[id]": str(run["id"]),
        "export_file[export_id]": str(run["export_id"]),
        "export_file[status]": "Available",
    }
    time.sleep(0.5)
    assert len(receiver.calls) == 1, "called once"
    state = requests.get(f"{simulator.base_url}/_simulator/state", timeout=5).json()
    assert state["callbacks"]["made"] == 1 and state["callbacks"]["recent"][0]["outcome"] == "204"


@pytest.mark.parametrize("status", ["Failed", "Empty List", "Success With Errors"])
def test_every_final_status_is_called_back_and_the_callback_may_come_in_the_query_string(simulator, receiver, status):
    run = start(simulator, query=f"?callback={receiver.url}/cb/")["export_files"]
    control(simulator, f"files/{run['id']}", {"status": status})
    eventually(lambda: receiver.calls, timeout=5, what="the callback")
    assert receiver.calls[0][2]["export_file[status]"] == status


def test_a_run_finishing_by_itself_is_called_back(receiver):
    world = SimulatedWorld(seed=3, identities=1, files_per_identity=1, pace=0.2, new_run_every=None)
    with SimulatorServer(world, api_keys=[KEY]) as simulator:
        run = start(simulator, body={"callback": f"{receiver.url}/cb/"})["export_files"]
        eventually(lambda: receiver.calls, timeout=5, what="the callback")
    assert receiver.calls[0][2]["export_file[id]"] == str(run["id"])
    assert receiver.calls[0][2]["export_file[status]"] == world.file(run["id"]).status.replace("_", " ").title()


def test_runs_started_without_a_callback_are_not_called_back(simulator, receiver):
    run = start(simulator)["export_files"]
    control(simulator, f"files/{run['id']}", {"status": "Available"})
    time.sleep(0.5)
    assert receiver.calls == []


def test_a_callback_that_is_not_an_http_url_is_refused_as_webadmit_refuses_bad_input(simulator):
    for callback in ("ftp://example.edu/cb", "not a url", 42):
        answer = start(simulator, body={"callback": callback})
        assert answer["status"] == 422 and "callback" in answer["errors"]["schema"][0]


def test_the_settings_drop_calls(simulator, receiver):
    assert control(simulator, "settings", {"callbacks": "drop"}).json()["settings"]["callbacks"] == "drop"
    run = start(simulator, body={"callback": f"{receiver.url}/cb/"})["export_files"]
    control(simulator, f"files/{run['id']}", {"status": "Available"})
    eventually(
        lambda: requests.get(f"{simulator.base_url}/_simulator/state", timeout=5).json()["callbacks"]["made"],
        timeout=5,
        what="the dropped call recorded",
    )
    time.sleep(0.3)
    assert receiver.calls == []
    recent = requests.get(f"{simulator.base_url}/_simulator/state", timeout=5).json()["callbacks"]["recent"]
    assert recent[0]["outcome"] == "dropped"


def test_the_settings_delay_calls(simulator, receiver):
    settings = control(simulator, "settings", {"callbacks": "delay", "callback_delay": 1.5}).json()["settings"]
    assert (settings["callbacks"], settings["callback_delay"]) == ("delay", 1.5)
    run = start(simulator, body={"callback": f"{receiver.url}/cb/"})["export_files"]
    finished = time.monotonic()
    control(simulator, f"files/{run['id']}", {"status": "Available"})
    eventually(lambda: receiver.calls, timeout=5, what="the delayed callback")
    assert receiver.calls[0][3] - finished >= 1.5


def test_a_slow_or_dead_receiver_never_holds_up_the_api(simulator, receiver):
    receiver.hold = 3.0
    # Started twice while unfinished, WebAdMIT answers with the same run: each start's callback is called.
    run = start(simulator, body={"callback": f"{receiver.url}/cb/"})["export_files"]
    again = start(simulator, body={"callback": "http://127.0.0.1:9/cb/"})["export_files"]
    assert again["id"] == run["id"]
    control(simulator, f"files/{run['id']}", {"status": "Available"})
    eventually(lambda: receiver.calls, timeout=5, what="the slow receiver's call")
    identity = simulator.world.identities()[0]
    began = time.monotonic()
    listing = requests.get(
        f"{simulator.base_url}/api/v1/user_identities/{identity.id}/export_files", headers={"x-api-key": KEY}, timeout=5
    )
    assert listing.status_code == 200 and time.monotonic() - began < 1.0

    def outcomes() -> dict[str, str] | None:
        recent = requests.get(f"{simulator.base_url}/_simulator/state", timeout=5).json()["callbacks"]["recent"]
        return {call["url"]: call["outcome"] for call in recent} if len(recent) == 2 else None

    assert eventually(outcomes, timeout=10, what="both calls' outcomes") == {
        f"{receiver.url}/cb/": "204",
        "http://127.0.0.1:9/cb/": "ConnectionRefusedError",
    }
