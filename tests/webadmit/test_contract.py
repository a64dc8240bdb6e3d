"""The client against the simulator over real HTTP: every call, both status spellings, the download URL and its
expiry, and each injected fault ending as the right client error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from webadmit_dash.simulator import SimulatedWorld, SimulatorServer
from webadmit_dash.webadmit import (
    BadResponse,
    FileStatus,
    KeyRejected,
    NotFound,
    RateLimited,
    UpstreamUnavailable,
    WebAdmitClient,
    WebAdmitError,
)

from .conftest import API_KEY

PACE = 20.0
# Fault handling does not depend on the spelling: run those tests once.
ONE_SPELLING = pytest.mark.parametrize("lowercase", [False], ids=["title-case"])


@pytest.fixture(params=[False, True], ids=["title-case", "lowercase"])
def lowercase(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.fixture
def world() -> SimulatedWorld:
    return SimulatedWorld(seed=7, identities=6, files_per_identity=8, pace=PACE)


@pytest.fixture
def server(world: SimulatedWorld, lowercase: bool) -> Iterator[SimulatorServer]:
    with SimulatorServer(world, {API_KEY}, lowercase_statuses=lowercase, rate_limit_per_hour=1000) as server:
        yield server


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[WebAdmitClient]:
    with WebAdmitClient(server.base_url, API_KEY, credential_name="Nursing", timeout=(2.0, 5.0)) as client:
        yield client


def first_identity(world: SimulatedWorld) -> int:
    return world.identities()[0].id


def csv_export_id(world: SimulatedWorld, identity_id: int) -> int:
    return next(export.id for export in world.exports(identity_id) if export.extension == "csv")


def assert_spelled(raw: str, status: FileStatus, lowercase: bool) -> None:
    assert raw == (status.value if lowercase else status.label)


def test_e1_lists_every_identity_including_64_bit_ids(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identities = client.list_user_identities()

    assert [identity.id for identity in identities] == [identity.id for identity in world.identities()]
    assert any(identity.id > 2**40 for identity in identities)
    assert {identity.association for identity in identities} == {
        "SOPHAS",
        "PharmCAS",
        "ArchCAS",
        "CASPA",
        "PTCAS",
        "UniCAS",
    }


def test_e3_lists_named_exports_of_one_identity(client: WebAdmitClient, world: SimulatedWorld) -> None:
    exports = client.list_exports(first_identity(world))

    assert len(exports) == 5
    assert all(export.name for export in exports)
    assert "text/csv;charset=iso-8859-1" in {export.mime_type for export in exports}


def test_e2_lists_the_exports_of_all_identities(client: WebAdmitClient, world: SimulatedWorld) -> None:
    exports = client.list_all_exports()

    assert len(exports) == sum(len(world.exports(identity.id)) for identity in world.identities())


def test_e6_lists_recent_files_in_the_chosen_spelling(
    client: WebAdmitClient, world: SimulatedWorld, lowercase: bool
) -> None:
    files = client.list_export_files(first_identity(world))

    assert len(files) == 8
    for export_file in files:
        assert export_file.status is not FileStatus.UNKNOWN
        assert_spelled(export_file.raw_status, export_file.status, lowercase)
        assert export_file.href == f"/api/v1/exports/{export_file.export_id}/export_files/{export_file.id}"


def test_e7_lists_the_runs_of_one_export(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = first_identity(world)
    export_id = csv_export_id(world, identity_id)

    runs = client.list_export_runs(identity_id, export_id)

    assert runs
    assert {run.export_id for run in runs} == {export_id}


def test_e4_starts_a_run_and_a_repost_returns_the_same_run(
    client: WebAdmitClient, world: SimulatedWorld, lowercase: bool
) -> None:
    identity_id = first_identity(world)
    export_id = csv_export_id(world, identity_id)

    started = client.start_export_run(identity_id, export_id)
    again = client.start_export_run(identity_id, export_id)

    assert again.id == started.id
    assert started.status in {FileStatus.INITIALIZING, FileStatus.QUEUED, FileStatus.IN_PROGRESS}
    assert_spelled(started.raw_status, started.status, lowercase)
    assert started.id in {run.id for run in client.list_export_runs(identity_id, export_id)}


def test_e5_mints_a_url_that_serves_a_latin_1_csv(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = first_identity(world)
    export = next(export for export in world.exports(identity_id) if export.extension == "csv")
    run = world.add_run(identity_id, export.id, outcome="available")
    world.advance(3 * PACE)

    link = client.get_download_link(export.id, run.id)

    assert link.file.status is FileStatus.AVAILABLE
    assert link.url is not None
    response = requests.get(link.url, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv;charset=iso-8859-1"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{export.name}.csv"'
    text = response.content.decode("iso-8859-1")
    assert text.startswith("CAS ID,First Name,Last Name,")
    assert "College Attended_0" in text
    assert "College Attended_1" in text
    assert any(name in text for name in ("José", "Zoë", "Müller", "François", "Siobhán", "Björn", "Anaïs", "Peña"))


def test_e5_gives_no_url_until_the_file_is_ready(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = first_identity(world)
    run = world.add_run(identity_id, csv_export_id(world, identity_id))

    link = client.get_download_link(run.export_id, run.id)

    assert link.url is None
    assert link.file.status is FileStatus.INITIALIZING


def test_a_download_url_expires(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = first_identity(world)
    run = world.add_run(identity_id, csv_export_id(world, identity_id), outcome="success_with_errors")
    world.advance(3 * PACE)
    link = client.get_download_link(run.export_id, run.id)
    assert link.url is not None

    world.advance(30)
    response = requests.get(link.url, timeout=5)

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/xml"
    assert response.text.startswith("<?xml")
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in response.text


def test_a_tampered_download_url_is_refused(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = first_identity(world)
    run = world.add_run(identity_id, csv_export_id(world, identity_id), outcome="available")
    world.advance(3 * PACE)
    url = client.get_download_link(run.export_id, run.id).url
    assert url is not None

    response = requests.get(url.replace("files/", "files/1"), timeout=5)

    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text


def test_a_bad_key_is_rejected(server: SimulatorServer) -> None:
    client = WebAdmitClient(server.base_url, "f" * 32, credential_name="Nursing")

    with pytest.raises(KeyRejected, match="rejected the API key for credential 'Nursing'"):
        client.list_user_identities()


def test_an_unknown_identity_is_not_found_with_webadmits_message(client: WebAdmitClient) -> None:
    with pytest.raises(NotFound) as caught:
        client.list_export_files(999)

    assert caught.value.message == "WebAdMIT says: User identity '999' not found. (credential 'Nursing')"


def test_a_file_that_is_gone_is_not_found(client: WebAdmitClient, world: SimulatedWorld) -> None:
    export_id = csv_export_id(world, first_identity(world))

    with pytest.raises(NotFound, match=r"WebAdMIT says: Not Found\."):
        client.get_download_link(export_id, 1)


def test_the_rate_limit_is_reported_and_enforced(world: SimulatedWorld) -> None:
    with SimulatorServer(world, {API_KEY}, rate_limit_per_hour=3) as server:
        client = WebAdmitClient(server.base_url, API_KEY, credential_name="Nursing")
        client.list_user_identities()
        assert client.rate_limit is not None
        assert (client.rate_limit.limit, client.rate_limit.remaining) == (3, 2)
        client.list_user_identities()
        client.list_user_identities()

        with pytest.raises(RateLimited) as caught:
            client.list_user_identities()

    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 3600
    assert client.rate_limit.remaining == 0


# --- Faults ---------------------------------------------------------------------------------------------------


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
@ONE_SPELLING
def test_each_fault_maps_to_its_client_error(
    client: WebAdmitClient, world: SimulatedWorld, kind: str, error_class: type[WebAdmitError]
) -> None:
    identity_id = first_identity(world)
    world.add_fault(kind, times=1)

    with pytest.raises(error_class):
        client.list_export_files(identity_id)

    assert len(client.list_export_files(identity_id)) == 8  # used up after one call


@ONE_SPELLING
def test_a_slow_answer_past_the_read_timeout_is_unavailable(server: SimulatorServer, world: SimulatedWorld) -> None:
    client = WebAdmitClient(server.base_url, API_KEY, timeout=(1.0, 0.2))
    world.add_fault("slow", seconds=1.0, times=1)

    with pytest.raises(UpstreamUnavailable, match="did not answer in time"):
        client.list_user_identities()


@ONE_SPELLING
def test_a_slow_answer_within_the_timeout_still_succeeds(client: WebAdmitClient, world: SimulatedWorld) -> None:
    world.add_fault("slow", seconds=0.1)

    assert len(client.list_user_identities()) == 6


@ONE_SPELLING
def test_a_hanging_server_times_out(server: SimulatorServer, world: SimulatedWorld) -> None:
    client = WebAdmitClient(server.base_url, API_KEY, timeout=(1.0, 0.2))
    world.add_fault("timeout")

    with pytest.raises(UpstreamUnavailable, match="did not answer in time"):
        client.list_user_identities()
    world.clear_faults()  # wakes the request the fault is holding


@ONE_SPELLING
def test_an_unknown_status_reaches_the_client_raw(client: WebAdmitClient, world: SimulatedWorld) -> None:
    identity_id = first_identity(world)
    world.add_fault("unknown_status", identity_id=identity_id)

    files = client.list_export_files(identity_id)

    unknown = [export_file for export_file in files if export_file.status is FileStatus.UNKNOWN]
    assert [export_file.raw_status for export_file in unknown] == ["Archived"]


@ONE_SPELLING
def test_a_fault_for_one_identity_leaves_the_others_alone(client: WebAdmitClient, world: SimulatedWorld) -> None:
    troubled, fine = (identity.id for identity in world.identities()[:2])
    world.add_fault("identity_not_found", identity_id=troubled)

    with pytest.raises(NotFound, match=f"User identity '{troubled}' not found"):
        client.list_export_files(troubled)
    assert client.list_export_files(fine)
