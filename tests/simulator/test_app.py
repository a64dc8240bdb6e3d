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
from webadmit_dash.simulator.data import UNFINISHED

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


def test_e3_lists_an_identitys_exports_newest_first(app: SimulatorApp, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id

    exports = call(app, "GET", f"/api/v1/user_identities/{identity_id}/exports").json()["exports"]

    ids = [item["id"] for item in exports]
    assert len(ids) == 5
    assert ids == sorted(ids, reverse=True), "highest (newest) export id first, as real captures list them"


def test_e2_lists_everyones_exports_newest_first(app: SimulatorApp, world: SimulatedWorld) -> None:
    ids = [item["id"] for item in call(app, "GET", "/api/v1/exports").json()["exports"]]

    assert len(ids) == 5 * len(world.identities())
    assert ids == sorted(ids, reverse=True)


def newest_first(world: SimulatedWorld, file_ids: list[int]) -> list[int]:
    """The ids in WebAdMIT's order: the latest started first, ties by the higher id."""
    states = [world.file(file_id) for file_id in file_ids]
    return [state.id for state in sorted(states, key=lambda s: (s.started_at, s.id), reverse=True)]  # type: ignore[union-attr]


def test_e6_lists_an_identitys_files_newest_first(app: SimulatorApp, world: SimulatedWorld, clock: FakeClock) -> None:
    identity_id = world.identities()[0].id
    clock.tick(60)
    latest = world.add_run(identity_id)

    files = call(app, "GET", f"/api/v1/user_identities/{identity_id}/export_files").json()["export_files"]

    ids = [item["id"] for item in files]
    assert ids[0] == latest.id
    assert len(ids) > 2
    assert ids == newest_first(world, ids)


def test_e7_lists_an_exports_runs_newest_first_like_e6(
    app: SimulatorApp, world: SimulatedWorld, clock: FakeClock
) -> None:
    identity_id = world.identities()[0].id
    export_id = world.exports(identity_id)[-1].id
    earlier = world.add_run(identity_id, export_id, outcome="available")
    clock.tick(60)  # `earlier` is Available now, as a run from last week would be
    started = call(app, "POST", f"/api/v1/user_identities/{identity_id}/exports/{export_id}/export_files").json()

    runs = call(app, "GET", f"/api/v1/user_identities/{identity_id}/exports/{export_id}/export_files").json()

    ids = [item["id"] for item in runs["export_files"]]
    assert ids[0] == started["export_files"]["id"], "the run just started comes first, not last week's file"
    assert earlier.id in ids[1:]
    assert ids == newest_first(world, ids)


def e4_path(world: SimulatedWorld) -> str:
    """E4 for an export with no unfinished run, so that posting to it starts a new run."""
    identity_id = world.identities()[0].id
    export_id = next(
        export.id
        for export in world.exports(identity_id)
        if all(state.status not in UNFINISHED for state in world.files(identity_id, export.id))
    )
    return f"/api/v1/user_identities/{identity_id}/exports/{export_id}/export_files"


def test_e4_answers_200_as_production_does_and_validates_its_body(app: SimulatorApp, world: SimulatedWorld) -> None:
    started = call(app, "POST", e4_path(world), body={"callback": "https://example.edu/hook"})
    rejected = call(app, "POST", e4_path(world), body=b'"just a string"')

    assert started.status == 200
    assert started.json()["export_files"]["status"] == "Initializing"
    assert rejected.status == 422
    assert "schema" in rejected.json()["errors"]


def test_e4_answers_the_documented_201_when_asked_to(world: SimulatedWorld) -> None:
    app = SimulatorApp(world, {KEY}, e4_status=201)

    assert call(app, "POST", e4_path(world)).status == 201
    with pytest.raises(ValueError, match="'e4_status' must be 200"):
        SimulatorApp(world, {KEY}, e4_status=202)


def test_control_api_switches_e4_between_200_and_201(app: SimulatorApp, world: SimulatedWorld) -> None:
    documented = call(app, "POST", "/_simulator/settings", key=None, body={"e4_status": 201})
    as_documented = call(app, "POST", e4_path(world)).status
    call(app, "POST", "/_simulator/settings", key=None, body={"e4_status": 200})
    as_production = call(app, "POST", e4_path(world)).status

    assert documented.status == 200
    assert documented.json()["settings"]["e4_status"] == 201
    assert (as_documented, as_production) == (201, 200)
    assert call(app, "GET", "/_simulator/state", key=None).json()["settings"]["e4_status"] == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"e4_status": 202}, "'e4_status' must be 200 (as production answers) or 201 (as the docs say), not 202"),
        ({"e4_status": "201"}, "'e4_status' must be int"),
        ({"e4_status": 201.5}, "'e4_status' must be int"),
        ({}, "give one or more of 'e4_status', 'file_size', 'callbacks', 'callback_delay'"),
        (
            {"e4_status": 201, "url_ttl": 5},
            "only 'e4_status', 'file_size', 'callbacks', 'callback_delay' can be set, not 'url_ttl'",
        ),
        ({"e4_status": 201, "file_size": 0}, "file_size must be a whole number of bytes, at least 1, not 0"),
        ({"e4_status": 201, "file_size": "5MB"}, "'file_size' must be int"),
        ({"e4_status": 201, "callbacks": "later"}, "'callbacks' must be one of 'on', 'drop', 'delay', not 'later'"),
        ({"e4_status": 201, "callback_delay": -1}, "'callback_delay' must be between 0 and 3600 seconds"),
    ],
)
def test_control_api_refuses_bad_settings(app: SimulatorApp, world: SimulatedWorld, body: object, message: str) -> None:
    answer = call(app, "POST", "/_simulator/settings", key=None, body=body)

    assert (answer.status, answer.json()) == (400, {"error": message})
    assert app.e4_status == 200, "a refused setting changes nothing"


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
