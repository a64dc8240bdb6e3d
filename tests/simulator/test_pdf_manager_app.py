"""PDF Manager's quirks on the simulator's HTTP surface, called as a WSGI app: states always lower snake case, the
422s of P3's schema (an `http://` callback above all), the 302 to a short-lived zip link, and the same key, budget
and faults as the export endpoints."""

from __future__ import annotations

import io
import zipfile
from typing import Any
from urllib.parse import urlsplit

import pytest

from webadmit_dash.simulator import SimulatedWorld, SimulatorApp
from webadmit_dash.simulator.pdf_manager import SimTemplate

from .conftest import FakeClock
from .test_app import KEY, Answer, call

PACE = 10.0


@pytest.fixture
def world(clock: FakeClock) -> SimulatedWorld:
    return SimulatedWorld(seed=5, clock=clock, pace=PACE)


@pytest.fixture
def app(world: SimulatedWorld) -> SimulatorApp:
    return SimulatorApp(world, {KEY}, rate_limit_per_hour=50)


def uid(world: SimulatedWorld, index: int = 0) -> int:
    return world.identities()[index].id


def template(world: SimulatedWorld, name: str = "Transcripts", index: int = 0) -> SimTemplate:
    return next(t for t in world.pdf_manager.templates(uid(world, index)) if t.name == name)


def start(app: SimulatorApp, world: SimulatedWorld, body: object, index: int = 0) -> Answer:
    return call(app, "POST", f"/api/v1/user_identities/{uid(world, index)}/pdf_manager_batches", body=body)


def wrapped(template_id: object, **more: object) -> dict[str, Any]:
    return {"pdf_manager_batch": {"pdf_manager_template_id": template_id, **more}}


def finished_batch(app: SimulatorApp, world: SimulatedWorld, clock: FakeClock, name: str = "Transcripts") -> Any:
    started = start(app, world, wrapped(template(world, name).id)).json()["pdf_manager_batch"]
    world.pdf_manager.force_state(started["id"], "available")
    clock.tick(1)
    return call(app, "GET", started["href"]).json()["pdf_manager_batch"]


@pytest.mark.parametrize("lowercase", [False, True])
def test_states_are_lower_snake_case_whatever_the_export_spelling(world: SimulatedWorld, lowercase: bool) -> None:
    app = SimulatorApp(world, {KEY}, lowercase_statuses=lowercase)
    batch = world.pdf_manager.batches(uid(world))[0]
    world.pdf_manager.force_state(batch.id, "Success With Errors")
    world.force_status(world.files(uid(world))[0].id, "success_with_errors")

    state = call(app, "GET", f"/api/v1/user_identities/{uid(world)}/pdf_manager_batches").json()
    status = call(app, "GET", f"/api/v1/user_identities/{uid(world)}/export_files").json()

    assert state["pdf_manager_batches"][0]["state"] == "success_with_errors"
    assert status["export_files"][0]["status"] == ("success_with_errors" if lowercase else "Success With Errors")


def test_an_http_callback_is_refused_in_webadmits_words(app: SimulatorApp, world: SimulatedWorld) -> None:
    answer = start(app, world, wrapped(template(world).id, callback="http://dash.example.edu/cb/"))

    assert answer.status == 422
    assert answer.json() == {
        "errors": {
            "schema": [
                "The property '#/pdf_manager_batch/callback' value \"http://dash.example.edu/cb/\" "
                "did not match the regex '^https://'"
            ]
        }
    }
    assert world.pdf_manager.started_here == [], "nothing started"


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        # The unwrapped body a public client sends; WebAdMIT's acceptance is unconfirmed, so it is refused here.
        (
            {"pdf_manager_template_id": 1},
            ["The property '#/' did not contain a required property of 'pdf_manager_batch'"],
        ),
        (None, ["The property '#/' did not contain a required property of 'pdf_manager_batch'"]),
        (b"not json", ["The property '#/' of type string did not match the following type: object"]),
        ([1], ["The property '#/' of type array did not match the following type: object"]),
        (
            {"pdf_manager_batch": 5},
            ["The property '#/pdf_manager_batch' of type integer did not match the following type: object"],
        ),
        (
            {"pdf_manager_batch": {}},
            ["The property '#/pdf_manager_batch' did not contain a required property of 'pdf_manager_template_id'"],
        ),
        (
            wrapped("8153"),
            [
                "The property '#/pdf_manager_batch/pdf_manager_template_id' of type string did not match the "
                "following type: integer"
            ],
        ),
        (
            wrapped(True, callback=42),
            [
                "The property '#/pdf_manager_batch/pdf_manager_template_id' of type boolean did not match the "
                "following type: integer",
                "The property '#/pdf_manager_batch/callback' of type integer did not match the following type: string",
            ],
        ),
        (
            wrapped(1, callback="ftp://example.edu/cb"),
            [
                "The property '#/pdf_manager_batch/callback' value \"ftp://example.edu/cb\" did not match the regex '^https://'"
            ],
        ),
    ],
)
def test_a_body_that_fails_the_schema_is_a_422_listing_each_problem(
    app: SimulatorApp, world: SimulatedWorld, body: object, problems: list[str]
) -> None:
    answer = start(app, world, body)

    assert (answer.status, answer.json()) == (422, {"errors": {"schema": problems}})


def test_an_https_callback_and_no_callback_are_both_taken(app: SimulatorApp, world: SimulatedWorld) -> None:
    with_one = start(app, world, wrapped(template(world).id, callback="https://dash.example.edu/cb/"))
    without = start(app, world, wrapped(template(world).id, callback=None))

    assert (with_one.status, without.status) == (201, 201)
    assert app.callbacks.summary()["pending"] == 1


def test_http_callbacks_can_be_let_through_for_a_local_demo(world: SimulatedWorld) -> None:
    app = SimulatorApp(world, {KEY}, http_batch_callbacks=True)

    answer = start(app, world, wrapped(template(world).id, callback="http://127.0.0.1:8000/cb/"))

    assert answer.status == 201
    assert call(app, "GET", "/_simulator/state", key=None).json()["settings"]["http_batch_callbacks"] is True


def test_a_template_the_identity_lacks_is_not_found(app: SimulatorApp, world: SimulatedWorld) -> None:
    theirs = template(world, index=1)

    assert start(app, world, wrapped(theirs.id)).status == 404
    assert start(app, world, wrapped(1)).json() == {"message": "Not Found"}
    assert call(app, "GET", f"/api/v1/user_identities/{uid(world)}/pdf_manager_templates/{theirs.id}").status == 404


def test_an_unknown_identity_is_not_found_on_every_pdf_endpoint(app: SimulatorApp, world: SimulatedWorld) -> None:
    paths = [
        ("GET", "/api/v1/user_identities/999/pdf_manager_templates"),
        ("GET", "/api/v1/user_identities/999/pdf_manager_templates/1"),
        ("POST", "/api/v1/user_identities/999/pdf_manager_batches"),
        ("GET", "/api/v1/user_identities/999/pdf_manager_batches"),
        ("GET", "/api/v1/user_identities/999/pdf_manager_batches/1"),
        ("GET", "/api/v1/user_identities/999/pdf_manager_zip_files/1/download"),
    ]
    for method, path in paths:
        answer = call(app, method, path, body=wrapped(1) if method == "POST" else None)
        assert (answer.status, answer.json()) == (404, {"message": "User identity '999' not found."}), path


def test_a_batch_or_zip_of_another_identity_is_not_found(
    app: SimulatorApp, world: SimulatedWorld, clock: FakeClock
) -> None:
    batch = finished_batch(app, world, clock)
    zip_id = int(batch["download_hrefs"][0].split("/")[-2])
    other = uid(world, 1)

    assert call(app, "GET", f"/api/v1/user_identities/{other}/pdf_manager_batches/{batch['id']}").status == 404
    assert call(app, "GET", f"/api/v1/user_identities/{other}/pdf_manager_zip_files/{zip_id}/download").status == 404


def test_download_hrefs_appear_only_once_the_batch_is_downloadable(
    app: SimulatorApp, world: SimulatedWorld, clock: FakeClock
) -> None:
    started = start(app, world, wrapped(template(world, "Full Application PDFs").id)).json()["pdf_manager_batch"]
    seen = []
    for state in ("queued", "in_progress", "failed", "empty_list", "archived", "success_with_errors", "available"):
        world.pdf_manager.force_state(started["id"], state)
        seen.append(len(call(app, "GET", started["href"]).json()["pdf_manager_batch"]["download_hrefs"]))

    assert started["download_hrefs"] == []
    assert seen[:5] == [0, 0, 0, 0, 0]
    assert 1 <= seen[5] <= seen[6] == 3, "with errors it holds fewer documents, so maybe fewer zips"


def test_a_zip_is_a_302_to_a_fresh_short_lived_link(app: SimulatorApp, world: SimulatedWorld, clock: FakeClock) -> None:
    href = finished_batch(app, world, clock)["download_hrefs"][0]

    answer = call(app, "GET", href)
    again = call(app, "GET", href)

    assert answer.status == 302
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"You are being <a href=" in answer.body
    link = urlsplit(answer.headers["Location"])
    assert (link.scheme, link.netloc) == ("http", "sim.test:8025")
    assert link.path.startswith("/_s3/webadmit-pdf-manager/batches/")
    assert "Signature=" in link.query and "Expires=" in link.query
    clock.tick(1)
    assert call(app, "GET", href).headers["Location"] != answer.headers["Location"], "a new link each call"
    assert again.status == 302


def test_a_zip_needs_the_key_but_its_link_does_not(app: SimulatorApp, world: SimulatedWorld, clock: FakeClock) -> None:
    href = finished_batch(app, world, clock)["download_hrefs"][0]

    refused = call(app, "GET", href, key=None)
    link = urlsplit(call(app, "GET", href).headers["Location"])
    fetched = call(app, "GET", link.path, key=None, query=link.query)

    assert (refused.status, refused.body) == (401, b"")
    assert fetched.status == 200
    assert fetched.headers["Content-Type"] == "application/zip"
    assert fetched.headers["Content-Disposition"].startswith('attachment; filename="pdf_manager_batch_')
    with zipfile.ZipFile(io.BytesIO(fetched.body)) as archive:
        assert archive.namelist() and all(name.endswith(".pdf") for name in archive.namelist())


def test_a_zip_link_expires_and_cannot_be_tampered_with(world: SimulatedWorld, clock: FakeClock) -> None:
    app = SimulatorApp(world, {KEY}, url_ttl=5)
    hrefs = finished_batch(app, world, clock, "Full Application PDFs")["download_hrefs"]
    link = urlsplit(call(app, "GET", hrefs[0]).headers["Location"])
    other_zip = hrefs[1].split("/")[-2]

    tampered = call(app, "GET", link.path.replace("/zips/", "/zips/1"), key=None, query=link.query)
    swapped = call(app, "GET", link.path.replace(hrefs[0].split("/")[-2], other_zip), key=None, query=link.query)
    clock.tick(6)
    stale = call(app, "GET", link.path, key=None, query=link.query)

    assert tampered.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in tampered.body
    assert swapped.status == 403
    assert stale.status == 403
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in stale.body


def test_a_zip_of_an_unfinished_batch_is_not_found(app: SimulatorApp, world: SimulatedWorld) -> None:
    started = start(app, world, wrapped(template(world).id)).json()["pdf_manager_batch"]
    zip_id = world.pdf_manager.batch(started["id"]).zip_file_ids[0]  # type: ignore[union-attr]

    answer = call(app, "GET", f"/api/v1/user_identities/{uid(world)}/pdf_manager_zip_files/{zip_id}/download")

    assert (answer.status, answer.json()) == (404, {"message": "Not Found"})


def test_pdf_calls_spend_the_same_hourly_budget(world: SimulatedWorld, clock: FakeClock) -> None:
    app = SimulatorApp(world, {KEY}, rate_limit_per_hour=3)
    call(app, "GET", "/api/v1/exports")

    remaining = [
        call(app, "GET", f"/api/v1/user_identities/{uid(world)}/pdf_manager_templates").headers[
            "X-RateLimit-Remaining"
        ],
        call(app, "GET", f"/api/v1/user_identities/{uid(world)}/pdf_manager_batches").headers["X-RateLimit-Remaining"],
    ]
    refused = start(app, world, wrapped(template(world).id))

    assert remaining == ["1", "0"]
    assert refused.status == 429 and "Retry-After" in refused.headers


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("key_rejected", 401),
        ("identity_not_found", 404),
        ("rate_limited", 429),
        ("server_error", 500),
        ("unavailable", 503),
        ("malformed_json", 200),
        ("timeout", 504),
    ],
)
@pytest.mark.parametrize("endpoint", ["P1", "P2", "P3", "P4", "P5", "P6"])
def test_every_fault_strikes_every_pdf_endpoint(
    app: SimulatorApp, world: SimulatedWorld, clock: FakeClock, kind: str, status: int, endpoint: str
) -> None:
    batch = finished_batch(app, world, clock)
    base = f"/api/v1/user_identities/{uid(world)}"
    method, path, body = {
        "P1": ("GET", f"{base}/pdf_manager_templates", None),
        "P2": ("GET", f"{base}/pdf_manager_templates/{template(world).id}", None),
        "P3": ("POST", f"{base}/pdf_manager_batches", wrapped(template(world).id)),
        "P4": ("GET", f"{base}/pdf_manager_batches", None),
        "P5": ("GET", batch["href"], None),
        "P6": ("GET", batch["download_hrefs"][0], None),
    }[endpoint]
    world.add_fault(kind, endpoint=endpoint, times=1, seconds=0 if kind == "timeout" else None)
    before = app.calls[(endpoint, uid(world))]

    struck = call(app, method, path, body=body)
    after = call(app, method, path, body=body)

    assert struck.status == status
    if kind == "malformed_json":
        with pytest.raises(ValueError):
            struck.json()
    assert after.status in (200, 201, 302), "used up after one call"
    assert app.calls[(endpoint, uid(world))] == before + 2, "counted as calls to that endpoint, as WebAdMIT would"


def test_a_fault_aimed_at_one_pdf_endpoint_leaves_the_others_alone(app: SimulatorApp, world: SimulatedWorld) -> None:
    base = f"/api/v1/user_identities/{uid(world)}"
    call(app, "POST", "/_simulator/faults", key=None, body={"kind": "server_error", "endpoint": "P4"})

    assert call(app, "GET", f"{base}/pdf_manager_batches").status == 500
    assert call(app, "GET", f"{base}/pdf_manager_templates").status == 200
    assert call(app, "GET", f"{base}/export_files").status == 200


def test_a_cut_download_cuts_zips_too(app: SimulatorApp, world: SimulatedWorld, clock: FakeClock) -> None:
    from webadmit_dash.simulator.app import DownloadCut

    link = urlsplit(call(app, "GET", finished_batch(app, world, clock)["download_hrefs"][0]).headers["Location"])
    world.add_fault("cut_download", identity_id=uid(world), times=1, after_bytes=100)

    with pytest.raises(DownloadCut):
        call(app, "GET", link.path, key=None, query=link.query)
    assert call(app, "GET", link.path, key=None, query=link.query).status == 200


def test_control_api_forces_a_batch_state_and_starts_batches(app: SimulatorApp, world: SimulatedWorld) -> None:
    batch_id = world.pdf_manager.batches(uid(world))[0].id
    awkward = next(t for t in world.pdf_manager.templates(uid(world)) if t.applicants in (0, 1_250))

    forced = call(app, "POST", f"/_simulator/pdf_manager_batches/{batch_id}", key=None, body={"state": "Archived"})
    added = call(
        app,
        "POST",
        f"/_simulator/identities/{uid(world)}/pdf_manager_batches",
        key=None,
        body={"template_id": template(world).id, "outcome": "failed"},
    )
    refused = call(
        app,
        "POST",
        f"/_simulator/identities/{uid(world)}/pdf_manager_batches",
        key=None,
        body={"template_id": awkward.id, "outcome": "available"},
    )
    state = call(app, "GET", "/_simulator/state", key=None).json()

    assert forced.json()["pdf_manager_batch"]["state"] == "Archived", "an unknown state goes out exactly as given"
    assert added.status == 201 and added.json()["pdf_manager_batch"]["state"] == "initializing"
    assert refused.status == 400 and "its batches end" in refused.json()["error"]
    assert call(app, "POST", "/_simulator/pdf_manager_batches/1", key=None, body={"state": "failed"}).status == 404
    assert (
        call(app, "POST", "/_simulator/identities/9/pdf_manager_batches", key=None, body={"template_id": 1}).status
        == 404
    )
    summary = state["identities"][0]
    assert (summary["pdf_manager_templates"], summary["pdf_manager_batches"]) == (4, 5)
    assert summary["pdf_manager_batches_by_state"]["Archived"] == 1
