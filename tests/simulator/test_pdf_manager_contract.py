"""The simulator's PDF Manager endpoints over real HTTP against the shapes the SPEC documents ("PDF Manager"): the
exact keys of every payload, lower snake case states from the SPEC's list, `updated_at` as `YYYY-MM-DDTHH:MM:SSZ`,
no `download_hrefs` in the listing, the single GET shaped as the SPEC's recorded callback, a 201 for a new batch, the
422 for a callback that is not https, and P6's 302 to a link that needs no key and expires."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from webadmit_dash.simulator import SimulatedWorld, SimulatorServer

KEY = "0123456789abcdef0123456789abcdef"
PACE = 20.0
STATES = {"initializing", "queued", "in_progress", "available", "success_with_errors", "empty_list", "failed"}
UPDATED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
RECORDED_CALLBACK = Path(__file__).parents[1] / "webadmit" / "payloads" / "pdf_batch_callback.json"
TEMPLATE_KEYS = {"href", "id", "name", "list_name", "document_source_title"}
LISTED_BATCH_KEYS = {"href", "id", "updated_at", "state", "pdf_manager_template"}


@pytest.fixture
def world() -> SimulatedWorld:
    return SimulatedWorld(seed=11, identities=3, pace=PACE)


@pytest.fixture
def server(world: SimulatedWorld) -> Iterator[SimulatorServer]:
    with SimulatorServer(world, {KEY}, url_ttl=25) as server:
        yield server


def api(server: SimulatorServer, path: str, method: str = "GET", **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{server.base_url}{path}", headers={"x-api-key": KEY}, timeout=5, allow_redirects=False, **kwargs
    )


def identity_path(world: SimulatedWorld) -> str:
    return f"/api/v1/user_identities/{world.identities()[1].id}"  # the one above 2**40


def assert_json(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining"} <= set(response.headers)
    return response.json()


def assert_listed_batch(item: dict[str, Any], identity: str) -> None:
    assert set(item) == LISTED_BATCH_KEYS
    assert item["href"] == f"{identity}/pdf_manager_batches/{item['id']}"
    assert item["state"] in STATES
    assert UPDATED_AT.fullmatch(item["updated_at"])
    template = item["pdf_manager_template"]
    assert set(template) == {"href", "id", "name"}
    assert template["href"] == f"{identity}/pdf_manager_templates/{template['id']}"


def test_p1_lists_templates_in_the_documented_shape(server: SimulatorServer, world: SimulatedWorld) -> None:
    identity = identity_path(world)

    body = assert_json(api(server, f"{identity}/pdf_manager_templates"))

    assert set(body) == {"href", "pdf_manager_templates"}
    assert body["href"] == f"{identity}/pdf_manager_templates"
    for item in body["pdf_manager_templates"]:
        assert set(item) == TEMPLATE_KEYS
        assert item["href"] == f"{identity}/pdf_manager_templates/{item['id']}"
        assert isinstance(item["id"], int)


def test_p2_gives_one_template_wrapped(server: SimulatorServer, world: SimulatedWorld) -> None:
    identity = identity_path(world)
    listed = api(server, f"{identity}/pdf_manager_templates").json()["pdf_manager_templates"][0]

    body = assert_json(api(server, listed["href"]))

    assert body == {"pdf_manager_template": listed}


def test_p2_is_read_only(server: SimulatorServer, world: SimulatedWorld) -> None:
    href = api(server, f"{identity_path(world)}/pdf_manager_templates").json()["pdf_manager_templates"][0]["href"]

    for method in ("POST", "PUT", "DELETE"):
        assert api(server, href, method, json={}).json() == {"message": "Not Found"}


def test_p4_lists_batches_without_download_hrefs(server: SimulatorServer, world: SimulatedWorld) -> None:
    identity = identity_path(world)

    body = assert_json(api(server, f"{identity}/pdf_manager_batches"))

    assert set(body) == {"href", "pdf_manager_batches"}
    assert body["href"] == f"{identity}/pdf_manager_batches"
    assert body["pdf_manager_batches"]
    for item in body["pdf_manager_batches"]:
        assert_listed_batch(item, identity)
    assert "available" in {item["state"] for item in body["pdf_manager_batches"]}


def test_p5_has_the_shape_of_the_recorded_callback(server: SimulatorServer, world: SimulatedWorld) -> None:
    recorded = json.loads(RECORDED_CALLBACK.read_text(encoding="utf-8"))
    identity = identity_path(world)
    listed = api(server, f"{identity}/pdf_manager_batches").json()["pdf_manager_batches"]
    available = next(item for item in listed if item["state"] == "available")

    body = assert_json(api(server, available["href"]))

    assert set(body) == set(recorded) == {"pdf_manager_batch"}
    batch = body["pdf_manager_batch"]
    assert set(batch) == set(recorded["pdf_manager_batch"]) == LISTED_BATCH_KEYS | {"download_hrefs"}
    assert set(batch["pdf_manager_template"]) == set(recorded["pdf_manager_batch"]["pdf_manager_template"])
    assert {key: value for key, value in batch.items() if key != "download_hrefs"} == available
    assert batch["download_hrefs"]
    for href in batch["download_hrefs"]:
        assert re.fullmatch(rf"{identity}/pdf_manager_zip_files/\d+/download", href)


def test_p5_has_no_download_hrefs_until_the_batch_can_be_downloaded(
    server: SimulatorServer, world: SimulatedWorld
) -> None:
    identity = identity_path(world)
    for item in api(server, f"{identity}/pdf_manager_batches").json()["pdf_manager_batches"]:
        batch = api(server, item["href"]).json()["pdf_manager_batch"]
        downloadable = batch["state"] in ("available", "success_with_errors")
        assert bool(batch["download_hrefs"]) is downloadable, batch["state"]


def test_p3_starts_a_batch_with_201_and_the_single_shape(server: SimulatorServer, world: SimulatedWorld) -> None:
    identity = identity_path(world)
    template = api(server, f"{identity}/pdf_manager_templates").json()["pdf_manager_templates"][0]

    body = assert_json(
        api(
            server,
            f"{identity}/pdf_manager_batches",
            "POST",
            json={"pdf_manager_batch": {"pdf_manager_template_id": template["id"], "callback": "https://x.example/cb"}},
        ),
        201,
    )

    batch = body["pdf_manager_batch"]
    assert_listed_batch({key: value for key, value in batch.items() if key != "download_hrefs"}, identity)
    assert (batch["state"], batch["download_hrefs"]) == ("initializing", [])
    assert batch["pdf_manager_template"] == {key: template[key] for key in ("href", "id", "name")}
    listed = api(server, f"{identity}/pdf_manager_batches").json()["pdf_manager_batches"]
    assert listed[0]["id"] == batch["id"], "the newest batch comes first"


def test_p3_refuses_a_callback_that_is_not_https_with_a_422(server: SimulatorServer, world: SimulatedWorld) -> None:
    identity = identity_path(world)
    template_id = api(server, f"{identity}/pdf_manager_templates").json()["pdf_manager_templates"][0]["id"]
    body = {"pdf_manager_batch": {"pdf_manager_template_id": template_id, "callback": "http://x.example/cb"}}

    refused = assert_json(api(server, f"{identity}/pdf_manager_batches", "POST", json=body), 422)

    assert refused == {
        "errors": {
            "schema": [
                "The property '#/pdf_manager_batch/callback' value \"http://x.example/cb\" did not match the regex "
                "'^https://'"
            ]
        }
    }


def test_p6_needs_the_key_and_redirects_to_a_link_that_needs_none(
    server: SimulatorServer, world: SimulatedWorld
) -> None:
    identity = identity_path(world)
    listed = api(server, f"{identity}/pdf_manager_batches").json()["pdf_manager_batches"]
    batch = api(server, next(item for item in listed if item["state"] == "available")["href"]).json()
    href = batch["pdf_manager_batch"]["download_hrefs"][0]

    without_key = requests.get(f"{server.base_url}{href}", timeout=5, allow_redirects=False)
    redirect = api(server, href)
    fetched = requests.get(redirect.headers["Location"], timeout=5)

    assert (without_key.status_code, without_key.content) == (401, b"")
    assert redirect.status_code == 302
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(fetched.content)) as archive:
        names = archive.namelist()
    assert names and all(name.endswith(".pdf") for name in names)


def test_p6_links_expire(server: SimulatorServer, world: SimulatedWorld) -> None:
    identity = identity_path(world)
    listed = api(server, f"{identity}/pdf_manager_batches").json()["pdf_manager_batches"]
    batch = api(server, next(item for item in listed if item["state"] == "available")["href"]).json()
    link = api(server, batch["pdf_manager_batch"]["download_hrefs"][0]).headers["Location"]

    world.advance(30)
    expired = requests.get(link, timeout=5)

    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.text


def test_unknown_things_get_webadmits_404s(server: SimulatorServer, world: SimulatedWorld) -> None:
    identity = identity_path(world)

    assert api(server, "/api/v1/user_identities/999/pdf_manager_batches").json() == {
        "message": "User identity '999' not found."
    }
    for path in ("pdf_manager_templates/1", "pdf_manager_batches/1", "pdf_manager_zip_files/1/download"):
        answer = api(server, f"{identity}/{path}")
        assert (answer.status_code, answer.json()) == (404, {"message": "Not Found"})
