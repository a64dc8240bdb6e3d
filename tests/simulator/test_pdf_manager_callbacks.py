"""A PDF Manager batch started with a callback is called back as WebAdMIT does: once, when it reaches a final
state, with JSON of the shape its own GET answers (not a form, unlike E4's); the settings drop or delay those calls
too. WebAdMIT takes only https callbacks; these tests let the simulator take http ones (`--http-batch-callbacks`), as
a local demo would, since their receiver has no TLS."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from tests.support.waiting import SERVER_POLL_INTERVAL, eventually
from webadmit_dash.simulator import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer, add_arguments, build_server

KEY = "0123456789abcdef0123456789abcdef"


class Receiver:
    """A real HTTP server standing in for the dashboard's endpoint: records each call's path, type and body."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.calls.append((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": SERVER_POLL_INTERVAL}, daemon=True
        ).start()

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
    return SimulatedWorld(seed=3, identities=1, files_per_identity=1, pace=86_400, new_run_every=None)


@pytest.fixture
def simulator(world: SimulatedWorld) -> Iterator[SimulatorServer]:
    with SimulatorServer(world, api_keys=[KEY], http_batch_callbacks=True) as server:
        yield server


def start(simulator: SimulatorServer, callback: str | None) -> dict[str, Any]:
    identity = simulator.world.identities()[0]
    template = next(t for t in simulator.world.pdf_manager.templates(identity.id) if t.name == "Transcripts")
    body: dict[str, Any] = {"pdf_manager_template_id": template.id}
    if callback is not None:
        body["callback"] = callback
    response = requests.post(
        f"{simulator.base_url}/api/v1/user_identities/{identity.id}/pdf_manager_batches",
        json={"pdf_manager_batch": body},
        headers={"x-api-key": KEY},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    return response.json()["pdf_manager_batch"]


def force(simulator: SimulatorServer, batch_id: int, state: str) -> None:
    url = f"{simulator.base_url}/_simulator/pdf_manager_batches/{batch_id}"
    requests.post(url, json={"state": state}, timeout=5).raise_for_status()


def get(simulator: SimulatorServer, href: str) -> dict[str, Any]:
    return requests.get(f"{simulator.base_url}{href}", headers={"x-api-key": KEY}, timeout=5).json()


def recent_calls(simulator: SimulatorServer) -> list[dict[str, Any]]:
    return requests.get(f"{simulator.base_url}/_simulator/state", timeout=5).json()["callbacks"]["recent"]


def test_a_finished_batch_is_called_back_once_with_json_shaped_as_its_get(
    simulator: SimulatorServer, receiver: Receiver
) -> None:
    batch = start(simulator, f"{receiver.url}/webadmit/pdf-batch/abc/")
    time.sleep(0.3)
    assert receiver.calls == [], "no call while the batch runs"

    force(simulator, batch["id"], "available")
    eventually(lambda: receiver.calls, timeout=5, what="the callback")
    path, content_type, body = receiver.calls[0]

    assert path == "/webadmit/pdf-batch/abc/"
    assert content_type == "application/json; charset=utf-8"
    assert json.loads(body) == get(simulator, batch["href"])
    assert json.loads(body)["pdf_manager_batch"]["download_hrefs"], "the zips come with the call"
    time.sleep(0.3)
    assert len(receiver.calls) == 1, "called once"
    assert recent_calls(simulator)[0] == {
        "url": f"{receiver.url}/webadmit/pdf-batch/abc/",
        "batch_id": batch["id"],
        "state": "available",
        "outcome": "204",
    }


@pytest.mark.parametrize("state", ["failed", "empty_list", "success_with_errors"])
def test_every_final_state_is_called_back(simulator: SimulatorServer, receiver: Receiver, state: str) -> None:
    batch = start(simulator, f"{receiver.url}/cb/")
    force(simulator, batch["id"], state)

    eventually(lambda: receiver.calls, timeout=5, what="the callback")

    assert json.loads(receiver.calls[0][2])["pdf_manager_batch"]["state"] == state


def test_an_unknown_state_is_not_an_end_so_the_call_waits_for_one(
    simulator: SimulatorServer, receiver: Receiver
) -> None:
    batch = start(simulator, f"{receiver.url}/cb/")
    force(simulator, batch["id"], "archived")
    time.sleep(0.3)
    assert receiver.calls == []

    force(simulator, batch["id"], "failed")

    eventually(lambda: receiver.calls, timeout=5, what="the callback once it ended")


def test_a_batch_finishing_by_itself_is_called_back(receiver: Receiver) -> None:
    world = SimulatedWorld(seed=3, identities=1, files_per_identity=1, pace=0.2, new_run_every=None)
    with SimulatorServer(world, api_keys=[KEY], http_batch_callbacks=True) as simulator:
        batch = start(simulator, f"{receiver.url}/cb/")
        eventually(lambda: receiver.calls, timeout=5, what="the callback")

    sent = json.loads(receiver.calls[0][2])["pdf_manager_batch"]
    assert sent["id"] == batch["id"]
    assert sent["state"] == world.pdf_manager.batch(batch["id"]).state  # type: ignore[union-attr]


def test_a_batch_started_without_a_callback_is_not_called_back(simulator: SimulatorServer, receiver: Receiver) -> None:
    batch = start(simulator, None)
    force(simulator, batch["id"], "available")
    time.sleep(0.3)

    assert receiver.calls == []
    assert recent_calls(simulator) == []


def test_the_settings_drop_batch_calls_too(simulator: SimulatorServer, receiver: Receiver) -> None:
    requests.post(f"{simulator.base_url}/_simulator/settings", json={"callbacks": "drop"}, timeout=5)
    batch = start(simulator, f"{receiver.url}/cb/")
    force(simulator, batch["id"], "available")

    recent = eventually(lambda: recent_calls(simulator), timeout=5, what="the dropped call recorded")

    assert recent[0]["outcome"] == "dropped" and recent[0]["batch_id"] == batch["id"]
    assert receiver.calls == []


def test_by_default_an_http_callback_is_refused_as_webadmit_refuses_it(world: SimulatedWorld) -> None:
    with SimulatorServer(world, api_keys=[KEY]) as simulator:
        identity = world.identities()[0].id
        template_id = world.pdf_manager.templates(identity)[0].id
        answer = requests.post(
            f"{simulator.base_url}/api/v1/user_identities/{identity}/pdf_manager_batches",
            json={"pdf_manager_batch": {"pdf_manager_template_id": template_id, "callback": "http://127.0.0.1:9/"}},
            headers={"x-api-key": KEY},
            timeout=5,
        )

    assert answer.status_code == 422
    assert "did not match the regex '^https://'" in answer.json()["errors"]["schema"][0]


def test_the_command_line_can_let_http_callbacks_through() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    default = build_server(vars(parser.parse_args(["--port", "0"])))
    demo = build_server(vars(parser.parse_args(["--port", "0", "--http-batch-callbacks"])))
    try:
        assert (default.app.http_batch_callbacks, demo.app.http_batch_callbacks) == (False, True)
    finally:
        default.stop()
        demo.stop()
