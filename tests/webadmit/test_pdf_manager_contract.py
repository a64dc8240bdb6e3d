"""The client's PDF Manager calls against the simulator over real HTTP: templates, a batch started and followed to
its end, its zips fetched through their short-lived links (no API key sent there), the refused http callback, a
state WebAdMIT never documented, and each injected fault ending as the right client error."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import pytest

from webadmit_dash.simulator import SimulatedWorld, SimulatorServer
from webadmit_dash.simulator.pdf_manager import MAX_APPLICANTS
from webadmit_dash.webadmit import (
    BadResponse,
    BatchState,
    KeyRejected,
    LinkExpired,
    NotFound,
    RateLimited,
    RequestRejected,
    UpstreamUnavailable,
    WebAdmitClient,
    WebAdmitError,
    make_session,
    open_download,
)

from .conftest import API_KEY

PACE = 20.0


@pytest.fixture
def world() -> SimulatedWorld:
    return SimulatedWorld(seed=7, identities=3, files_per_identity=2, pace=PACE)


@pytest.fixture
def server(world: SimulatedWorld) -> Iterator[SimulatorServer]:
    with SimulatorServer(world, {API_KEY}, rate_limit_per_hour=1000) as server:
        yield server


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[WebAdmitClient]:
    with WebAdmitClient(server.base_url, API_KEY, credential_name="Nursing", timeout=(2.0, 5.0)) as client:
        yield client


def big_identity(world: SimulatedWorld) -> int:
    return world.identities()[1].id  # above 2**40


def template_id(client: WebAdmitClient, identity_id: int, name: str) -> int:
    return next(t.id for t in client.list_pdf_manager_templates(identity_id) if t.name == name)


def fetch(url: str) -> bytes:
    with make_session() as session, open_download(session, url, connect_timeout=2, read_timeout=5) as download:
        return b"".join(download.chunks())


def test_templates_are_listed_and_read_one_by_one(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = big_identity(world)

    templates = client.list_pdf_manager_templates(identity_id)

    assert len(templates) == 4
    assert "Transcripts" in {template.name for template in templates}
    assert all(template.list_name and template.document_source_title for template in templates)
    assert client.get_pdf_manager_template(identity_id, templates[0].id) == templates[0]


def test_the_demo_batches_are_listed_with_their_states(client: WebAdmitClient, world: SimulatedWorld) -> None:
    batches = client.list_pdf_manager_batches(big_identity(world))

    assert len(batches) == 4
    assert BatchState.AVAILABLE in {batch.state for batch in batches}
    assert all(batch.state is not BatchState.UNKNOWN and batch.raw_state == batch.state.value for batch in batches)
    assert all(batch.download_hrefs is None for batch in batches), "never in the listing"
    assert [batch.id for batch in batches] == sorted((batch.id for batch in batches), reverse=True)


def test_a_batch_runs_to_its_zips_which_are_fetched_without_the_key(
    client: WebAdmitClient, world: SimulatedWorld
) -> None:
    identity_id = big_identity(world)
    started = client.start_pdf_manager_batch(identity_id, template_id(client, identity_id, "Full Application PDFs"))
    assert (started.state, started.download_hrefs, started.zip_file_ids) == (BatchState.INITIALIZING, (), ())
    world.pdf_manager.force_state(started.id, "available")  # its own draw may have been a failure

    batch = client.get_pdf_manager_batch(identity_id, started.id)
    names = []
    for zip_file_id in batch.zip_file_ids:
        link = client.get_pdf_manager_zip_link(identity_id, zip_file_id)
        with zipfile.ZipFile(io.BytesIO(fetch(link.url))) as archive:
            names += archive.namelist()

    assert batch.state is BatchState.AVAILABLE and batch.updated_at >= started.updated_at
    assert len(batch.zip_file_ids) == 3, "a big template is several zips"
    assert names == [document.file_name for document in world.pdf_manager.documents(started.id)]
    # <CAS ID>_<First>_<Last>_<Document source title>_<program id>_<Program name>.pdf
    assert all(re.fullmatch(r"\d{10}_[^_]+_[^_]+_Full Application_\d{14}_[^_]+\.pdf", name) for name in names)


def test_a_batch_is_followed_through_its_lifecycle(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id
    started = client.start_pdf_manager_batch(identity_id, template_id(client, identity_id, "Transcripts"))
    seen = [started.state]

    for _ in range(3):
        world.advance(PACE)
        seen.append(client.get_pdf_manager_batch(identity_id, started.id).state)

    assert seen[:3] == [BatchState.INITIALIZING, BatchState.QUEUED, BatchState.IN_PROGRESS]
    assert seen[3].is_finished


def test_a_template_past_the_limit_fails(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id  # even index: its awkward template is the one too large
    too_large = next(t for t in world.pdf_manager.templates(identity_id) if t.applicants > MAX_APPLICANTS)
    started = client.start_pdf_manager_batch(identity_id, too_large.id)

    world.advance(3 * PACE)
    batch = client.get_pdf_manager_batch(identity_id, started.id)

    assert (batch.state, batch.download_hrefs) == (BatchState.FAILED, ())


def test_an_http_callback_is_refused_with_webadmits_words(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id

    with pytest.raises(RequestRejected) as caught:
        client.start_pdf_manager_batch(
            identity_id, template_id(client, identity_id, "Transcripts"), callback="http://dash.example.edu/cb/"
        )

    assert caught.value.status_code == 422
    assert caught.value.upstream_message == (
        "schema: The property '#/pdf_manager_batch/callback' value \"http://dash.example.edu/cb/\" did not match the "
        "regex '^https://'"
    )


def test_an_https_callback_is_taken(client: WebAdmitClient, world: SimulatedWorld, server: SimulatorServer) -> None:
    identity_id = world.identities()[0].id

    client.start_pdf_manager_batch(
        identity_id, template_id(client, identity_id, "Transcripts"), callback="https://dash.example.edu/cb/"
    )

    assert server.app.callbacks.summary()["pending"] == 1


def test_a_state_webadmit_never_documented_is_kept_raw(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id
    batch_id = client.list_pdf_manager_batches(identity_id)[0].id
    world.pdf_manager.force_state(batch_id, "archived")

    batch = client.get_pdf_manager_batch(identity_id, batch_id)

    assert (batch.state, batch.raw_state) == (BatchState.UNKNOWN, "archived")
    assert not batch.state.is_finished


def test_a_zip_link_expires(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = big_identity(world)
    available = next(b for b in client.list_pdf_manager_batches(identity_id) if b.state is BatchState.AVAILABLE)
    zip_file_id = client.get_pdf_manager_batch(identity_id, available.id).zip_file_ids[0]
    link = client.get_pdf_manager_zip_link(identity_id, zip_file_id)

    world.advance(30)

    with pytest.raises(LinkExpired):
        fetch(link.url)
    assert fetch(client.get_pdf_manager_zip_link(identity_id, zip_file_id).url).startswith(b"PK"), "a new link"


def test_things_that_are_not_there_are_not_found(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id

    with pytest.raises(NotFound, match=r"WebAdMIT says: User identity '999' not found\."):
        client.list_pdf_manager_batches(999)
    with pytest.raises(NotFound, match=r"WebAdMIT says: Not Found\."):
        client.get_pdf_manager_batch(identity_id, 1)
    with pytest.raises(NotFound):
        client.get_pdf_manager_zip_link(identity_id, 1)
    with pytest.raises(NotFound):
        client.start_pdf_manager_batch(identity_id, 1)


@pytest.mark.parametrize(
    ("kind", "error_class"),
    [
        ("key_rejected", KeyRejected),
        ("identity_not_found", NotFound),
        ("rate_limited", RateLimited),
        ("server_error", UpstreamUnavailable),
        ("unavailable", UpstreamUnavailable),
        ("malformed_json", BadResponse),
    ],
)
@pytest.mark.parametrize("endpoint", ["P1", "P3", "P4", "P5", "P6"])
def test_each_fault_maps_to_its_client_error(
    client: WebAdmitClient, world: SimulatedWorld, kind: str, error_class: type[WebAdmitError], endpoint: str
) -> None:
    identity_id = big_identity(world)
    available = next(b for b in client.list_pdf_manager_batches(identity_id) if b.state is BatchState.AVAILABLE)
    zip_file_id = client.get_pdf_manager_batch(identity_id, available.id).zip_file_ids[0]
    transcripts = template_id(client, identity_id, "Transcripts")
    calls = {
        "P1": lambda: client.list_pdf_manager_templates(identity_id),
        "P3": lambda: client.start_pdf_manager_batch(identity_id, transcripts),
        "P4": lambda: client.list_pdf_manager_batches(identity_id),
        "P5": lambda: client.get_pdf_manager_batch(identity_id, available.id),
        "P6": lambda: client.get_pdf_manager_zip_link(identity_id, zip_file_id),
    }
    world.add_fault(kind, endpoint=endpoint, times=1)

    with pytest.raises(error_class):
        calls[endpoint]()

    assert calls[endpoint](), "used up after one call"


def test_a_hanging_pdf_endpoint_times_out(server: SimulatorServer, world: SimulatedWorld) -> None:
    client = WebAdmitClient(server.base_url, API_KEY, timeout=(1.0, 0.2))
    world.add_fault("timeout", endpoint="P4")

    with pytest.raises(UpstreamUnavailable, match="did not answer in time"):
        client.list_pdf_manager_batches(world.identities()[0].id)
    world.clear_faults()  # wakes the request the fault is holding
