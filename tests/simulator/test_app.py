"""The simulator's HTTP surface, called as a WSGI app: the wire format of E1-E7, keys, the rate limit, fake S3
and the control API."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from wsgiref.util import setup_testing_defaults

import pytest

from webadmit_dash.simulator import SimulatedWorld, SimulatorApp

from .conftest import FakeClock

KEY = "0123456789abcdef0123456789abcdef"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: SimulatorApp,
    method: str,
    path: str,
    *,
    key: str | None = KEY,
    body: object = None,
    query: str = "",
) -> Answer:
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
        "HTTP_HOST": "sim.test:8025",
    }
    if key is not None:
        environ["HTTP_X_API_KEY"] = key
    setup_testing_defaults(environ)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        captured["status"] = int(status.split()[0])
        captured["headers"] = dict(headers)

    chunks = app(environ, start_response)
    return Answer(captured["status"], captured["headers"], b"".join(chunks))


@pytest.fixture
def world(clock: FakeClock) -> SimulatedWorld:
    return SimulatedWorld(seed=5, clock=clock, pace=10)


@pytest.fixture
def app(world: SimulatedWorld) -> SimulatorApp:
    return SimulatorApp(world, {KEY}, rate_limit_per_hour=5)


def test_e1_has_the_documented_shape_and_json_type(app: SimulatorApp, world: SimulatedWorld) -> None:
    answer = call(app, "GET", "/api/v1/user_identities")

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert body["href"] == "/api/v1/user_identities"
    assert set(body["user_identities"][0]) == {"id", "type", "association", "institution", "organization", "cycle"}


def test_e6_has_the_documented_shape(app: SimulatorApp, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id

    body = call(app, "GET", f"/api/v1/user_identities/{identity_id}/export_files").json()

    assert body["href"] == f"/api/v1/user_identities/{identity_id}/export_files"
    item = body["export_files"][0]
    assert set(item) == {"id", "href", "export_id", "status"}
    assert item["href"] == f"/api/v1/exports/{item['export_id']}/export_files/{item['id']}"


def test_statuses_are_title_case_by_default_and_lowercase_on_request(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, pace=10)
    identity_id = world.identities()[0].id
    path = f"/api/v1/user_identities/{identity_id}/export_files"
    world.force_status(world.files(identity_id)[0].id, "in_progress")

    title = call(SimulatorApp(world, {KEY}), "GET", path).json()["export_files"][0]["status"]
    lower = call(SimulatorApp(world, {KEY}, lowercase_statuses=True), "GET", path).json()["export_files"][0]["status"]

    assert (title, lower) == ("In Progress", "in_progress")


def test_e7_lists_runs_oldest_first_unlike_e6(app: SimulatorApp, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id
    export_id = world.exports(identity_id)[-1].id
    for _ in range(2):
        world.add_run(identity_id, export_id)

    runs = call(app, "GET", f"/api/v1/user_identities/{identity_id}/exports/{export_id}/export_files").json()

    ids = [item["id"] for item in runs["export_files"]]
    assert ids == sorted(ids)
    assert len(ids) >= 2


def test_e4_answers_201_and_validates_its_body(app: SimulatorApp, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id
    export_id = world.exports(identity_id)[0].id
    path = f"/api/v1/user_identities/{identity_id}/exports/{export_id}/export_files"

    started = call(app, "POST", path, body={"callback": "https://example.edu/hook"})
    rejected = call(app, "POST", path, body=b'"just a string"')

    assert started.status == 201
    assert started.json()["export_files"]["status"] == "Initializing"
    assert rejected.status == 422
    assert "schema" in rejected.json()["errors"]


def test_a_missing_or_wrong_key_gets_401_with_an_empty_body(app: SimulatorApp) -> None:
    for key in (None, "nope"):
        answer = call(app, "GET", "/api/v1/user_identities", key=key)
        assert (answer.status, answer.body) == (401, b"")
        assert "X-RateLimit-Limit" in answer.headers


def test_unknown_identities_and_paths_get_webadmits_404s(app: SimulatorApp) -> None:
    assert call(app, "GET", "/api/v1/user_identities/999/exports").json() == {
        "message": "User identity '999' not found."
    }
    assert call(app, "GET", "/api/v1/user_identities/999/export_files").status == 404
    assert call(app, "GET", "/api/v1/nothing").json() == {"message": "Not Found"}
    assert call(app, "DELETE", "/api/v1/user_identities").status == 404


def test_every_response_counts_down_the_hourly_budget_then_429(app: SimulatorApp, clock: FakeClock) -> None:
    remaining = [call(app, "GET", "/api/v1/exports").headers["X-RateLimit-Remaining"] for _ in range(5)]
    refused = call(app, "GET", "/api/v1/exports")
    clock.tick(3600)
    again = call(app, "GET", "/api/v1/exports")

    assert remaining == ["4", "3", "2", "1", "0"]
    assert refused.status == 429
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) == 3600
    assert again.status == 200


def test_the_budget_is_per_key(world: SimulatedWorld) -> None:
    app = SimulatorApp(world, {KEY, "other"}, rate_limit_per_hour=1)

    assert call(app, "GET", "/api/v1/exports").status == 200
    assert call(app, "GET", "/api/v1/exports", key="other").status == 200
    assert call(app, "GET", "/api/v1/exports").status == 429


def test_e5_url_points_at_fake_s3_on_the_requests_host(app: SimulatorApp, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id
    run = world.add_run(identity_id, outcome="available")
    world.advance(30)

    item = call(app, "GET", f"/api/v1/exports/{run.export_id}/export_files/{run.id}").json()["export_files"]

    url = urlsplit(item["download_url"])
    assert (url.scheme, url.netloc) == ("http", "sim.test:8025")
    assert url.path.startswith("/_s3/webadmit-exports/")
    for part in (
        "AWSAccessKeyId=",
        "Expires=",
        "Signature=",
        "response-content-disposition=attachment%3B%20filename%3D%22",
    ):
        assert part in url.query
    fetched = call(app, "GET", url.path, key=None, query=url.query)
    assert fetched.status == 200
    assert fetched.headers["Content-Disposition"].startswith('attachment; filename="')


def test_s3_urls_expire_after_the_ttl(world: SimulatedWorld, clock: FakeClock) -> None:
    app = SimulatorApp(world, {KEY}, url_ttl=5)
    identity_id = world.identities()[0].id
    run = world.add_run(identity_id, outcome="available")
    clock.tick(30)
    url = urlsplit(
        call(app, "GET", f"/api/v1/exports/{run.export_id}/export_files/{run.id}").json()["export_files"][
            "download_url"
        ]
    )

    clock.tick(4)
    fresh = call(app, "GET", url.path, key=None, query=url.query)
    clock.tick(2)
    stale = call(app, "GET", url.path, key=None, query=url.query)

    assert fresh.status == 200
    assert stale.status == 403
    assert stale.headers["Content-Type"] == "application/xml"
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in stale.body


def test_control_api_injects_lists_and_clears_faults(app: SimulatorApp, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id

    added = call(
        app,
        "POST",
        "/_simulator/faults",
        key=None,
        body={"kind": "server_error", "identity_id": identity_id, "times": 1},
    )
    listed = call(app, "GET", "/_simulator/faults", key=None).json()["faults"]
    failed = call(app, "GET", f"/api/v1/user_identities/{identity_id}/export_files")
    call(app, "POST", "/_simulator/faults", key=None, body={"kind": "unavailable"})
    cleared = call(app, "DELETE", "/_simulator/faults", key=None).json()

    assert added.status == 201
    assert listed == [added.json()["fault"]]
    assert failed.status == 500
    assert cleared == {"cleared": 1}
    assert call(app, "GET", "/api/v1/user_identities").status == 200


def test_control_api_aims_a_fault_at_one_endpoint(app: SimulatorApp, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id
    call(app, "POST", "/_simulator/faults", key=None, body={"kind": "malformed_json", "endpoint": "E3"})

    listing = call(app, "GET", f"/api/v1/user_identities/{identity_id}/export_files")
    names = call(app, "GET", f"/api/v1/user_identities/{identity_id}/exports")

    assert listing.status == 200 and listing.json()["export_files"]
    assert names.status == 200
    with pytest.raises(ValueError):
        names.json()


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "meteor"},
        {"kind": "slow", "endpoint": "E8"},
        {},
        {"kind": "slow", "seconds": "soon"},
        {"kind": "slow", "times": True},
        b"not json",
    ],
)
def test_control_api_refuses_bad_faults(app: SimulatorApp, body: object) -> None:
    answer = call(app, "POST", "/_simulator/faults", key=None, body=body)

    assert answer.status == 400
    assert "error" in answer.json()


def test_control_api_forces_a_status_adds_runs_and_moves_the_clock(app: SimulatorApp, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id
    file_id = world.files(identity_id)[0].id

    forced = call(app, "POST", f"/_simulator/files/{file_id}", key=None, body={"status": "Empty List"})
    added = call(app, "POST", f"/_simulator/identities/{identity_id}/runs", key=None, body={})
    moved = call(app, "POST", "/_simulator/clock", key=None, body={"advance": 15})
    state = call(app, "GET", "/_simulator/state", key=None).json()

    assert forced.json()["export_files"]["status"] == "Empty List"
    assert added.status == 201
    assert world.file(added.json()["export_files"]["id"]).status == "queued"  # type: ignore[union-attr]
    assert moved.json()["now"] == world.now()
    assert state["identities"][0]["id"] == identity_id
    assert state["settings"]["rate_limit_per_hour"] == 5
    assert call(app, "POST", "/_simulator/files/1", key=None, body={"status": "Failed"}).status == 404
    assert call(app, "GET", "/_simulator/nothing", key=None).status == 404


def test_control_endpoints_do_not_spend_the_budget(app: SimulatorApp) -> None:
    for _ in range(10):
        call(app, "GET", "/_simulator/state", key=None)

    assert call(app, "GET", "/api/v1/exports").headers["X-RateLimit-Remaining"] == "4"
