"""The seeded world: deterministic, 64-bit ids, a lifecycle that follows the clock, runs that come and go."""

from __future__ import annotations

import io
import threading
import time
import zipfile

import pytest

from webadmit_dash.simulator import FAULT_KINDS, SimulatedWorld
from webadmit_dash.simulator.data import OUTCOMES, UNFINISHED

from .conftest import FakeClock


def snapshot(world: SimulatedWorld) -> tuple[object, ...]:
    identities = world.identities()
    return (
        identities,
        world.exports(),
        [world.files(identity.id) for identity in identities],
    )


def test_a_seed_always_builds_the_same_world(clock: FakeClock) -> None:
    assert snapshot(SimulatedWorld(seed=3, clock=clock)) == snapshot(SimulatedWorld(seed=3, clock=clock))


def test_another_seed_builds_another_world(clock: FakeClock) -> None:
    assert snapshot(SimulatedWorld(seed=3, clock=clock)) != snapshot(SimulatedWorld(seed=4, clock=clock))


def test_ids_go_beyond_32_bits(clock: FakeClock) -> None:
    ids = [identity.id for identity in SimulatedWorld(clock=clock).identities()]

    assert len(set(ids)) == 6
    assert sum(identity_id > 2**31 for identity_id in ids) >= 2
    assert sum(identity_id > 2**40 for identity_id in ids) == 1


def test_identities_span_cas_cycles_and_user_types(clock: FakeClock) -> None:
    identities = SimulatedWorld(clock=clock).identities()

    assert {identity.association for identity in identities} == {
        "SOPHAS",
        "PharmCAS",
        "ArchCAS",
        "CASPA",
        "PTCAS",
        "UniCAS",
    }
    assert {identity.cycle for identity in identities} == {"2025 - 2026", "2026 - 2027"}
    assert {identity.type for identity in identities} == {"Admissions User", "Association User", "Institution User"}


def test_each_identity_has_an_export_of_every_format(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)

    for identity in world.identities():
        exports = world.exports(identity.id)
        assert {export.mime_type for export in exports} == {
            "text/csv;charset=iso-8859-1",
            "application/vnd.ms-excel",
            "text/plain",
            "application/zip",
            "text/html",
        }
        assert len({export.name for export in exports}) == len(exports)


def test_a_run_moves_through_the_lifecycle_with_the_clock(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, pace=20)
    identity_id = world.identities()[0].id
    run = world.add_run(identity_id, outcome="failed")
    seen = []

    for _ in range(5):
        seen.append(world.file(run.id).status)  # type: ignore[union-attr]
        clock.tick(20)

    assert seen == ["initializing", "queued", "in_progress", "failed", "failed"]


def test_initial_files_mix_unfinished_runs_with_every_outcome(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, identities=20)
    statuses = {state.status for identity in world.identities() for state in world.files(identity.id)}

    assert set(OUTCOMES) <= statuses
    assert statuses & set(UNFINISHED)


def test_settled_initial_files_are_all_finished(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, identities=20, initial="settled")
    statuses = {state.status for identity in world.identities() for state in world.files(identity.id)}

    assert statuses <= set(OUTCOMES)


def test_newer_runs_have_higher_ids_and_come_first(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)
    files = world.files(world.identities()[0].id)

    assert [state.id for state in files] == sorted((state.id for state in files), reverse=True)


def test_new_runs_appear_over_time(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, new_run_every=60)
    count = sum(len(world.files(identity.id)) for identity in world.identities())

    clock.tick(3 * 60)

    assert sum(len(world.files(identity.id)) for identity in world.identities()) == count + 3


def test_new_runs_can_be_turned_off(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, new_run_every=None)
    identity_id = world.identities()[0].id
    count = len(world.files(identity_id))

    clock.tick(3600)

    assert len(world.files(identity_id)) == count


def test_old_runs_drop_off_after_retention(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, pace=1, retention=3600, new_run_every=None)
    identity_id = world.identities()[0].id
    old = world.files(identity_id)
    assert old

    clock.tick(3601)

    assert world.files(identity_id) == []
    assert world.file(old[0].id) is None
    assert world.download(old[0].id) is None


def test_a_long_jump_only_creates_runs_still_within_retention(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, retention=600, new_run_every=60)

    clock.tick(365 * 24 * 3600)

    assert sum(len(world.files(identity.id)) for identity in world.identities()) <= 11


def test_starting_a_run_returns_the_unfinished_one_until_it_finishes(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, pace=20, initial="settled")  # so the first start is a new run
    identity_id = world.identities()[0].id
    export_id = world.exports(identity_id)[0].id

    first = world.start_run(identity_id, export_id)
    clock.tick(20)
    again = world.start_run(identity_id, export_id)
    clock.tick(60)
    after = world.start_run(identity_id, export_id)

    assert again.id == first.id
    assert again.status == "queued"
    assert after.id != first.id


def test_starting_a_run_of_another_identitys_export_is_refused(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)
    mine, theirs = (identity.id for identity in world.identities()[:2])

    with pytest.raises(LookupError, match="Not Found"):
        world.start_run(mine, world.exports(theirs)[0].id)
    with pytest.raises(LookupError, match=r"User identity '5' not found\."):
        world.start_run(5, world.exports(theirs)[0].id)


def test_forcing_a_status_normalises_known_spellings_and_keeps_others_raw(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)
    file_id = world.files(world.identities()[0].id)[0].id

    assert world.force_status(file_id, "Success With Errors").status == "success_with_errors"
    assert world.force_status(file_id, " in-progress ").status == "in_progress"
    assert world.force_status(file_id, "Archived").status == "Archived"


def test_downloads_are_deterministic_latin_1_files(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, pace=0)
    identity_id = world.identities()[0].id
    export = next(export for export in world.exports(identity_id) if export.extension == "csv")
    run = world.add_run(identity_id, export.id, outcome="available")

    download = world.download(run.id)

    assert download is not None
    assert download == world.download(run.id)
    assert download.content_type == "text/csv;charset=iso-8859-1"
    assert download.filename == f"{export.name}.csv"
    header = download.body.decode("iso-8859-1").splitlines()[0]
    assert "Recommender Name_0,Recommender Name_1" in header


def test_only_finished_downloadable_files_have_a_download(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, pace=0)
    identity_id = world.identities()[0].id

    assert world.download(world.add_run(identity_id, outcome="empty_list").id) is None
    assert world.download(world.add_run(identity_id, outcome="failed").id) is None
    assert world.download(world.add_run(identity_id, outcome="success_with_errors").id) is not None


def test_every_format_renders_as_its_mime_type_says(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, pace=0)
    identity_id = world.identities()[0].id
    downloads = {}

    for export in world.exports(identity_id):
        download = world.download(world.add_run(identity_id, export.id, outcome="available").id)
        assert download is not None
        assert download.filename == f"{export.name}.{export.extension}"
        downloads[export.mime_type] = download.body

    # Each identity has one export of each format, so a Download click can reach every one of them.
    first_lines = {mime: body.split(b"\r\n")[0] for mime, body in downloads.items()}
    assert first_lines["text/csv;charset=iso-8859-1"].startswith(b"CAS ID,First Name,Last Name,")
    assert first_lines["application/vnd.ms-excel"].startswith(b"CAS ID\tFirst Name\tLast Name\t")
    assert first_lines["text/plain"].startswith(b"CAS ID  ")
    with zipfile.ZipFile(io.BytesIO(downloads["application/zip"])) as archive:
        assert [name.rsplit("_", 1)[1] for name in archive.namelist()] == ["1.csv", "2.csv"]
        assert all(archive.read(name).startswith(b"CAS ID,") for name in archive.namelist())
    assert downloads["text/html"].startswith(b"<html>") and b"<th>CAS ID</th>" in downloads["text/html"]


def test_a_fault_is_used_up_after_its_times(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)
    world.add_fault("server_error", times=2)

    assert [world.take_fault(None) is not None for _ in range(3)] == [True, True, False]


def test_a_fault_for_one_identity_applies_only_to_it(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)
    target, other = (identity.id for identity in world.identities()[:2])
    world.add_fault("unavailable", identity_id=target)

    assert world.take_fault(other) is None
    assert world.take_fault(None) is None
    assert world.take_fault(target) is not None


def test_a_fault_for_one_endpoint_applies_only_to_its_calls(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)
    target = world.identities()[0].id
    world.add_fault("server_error", endpoint="E3", times=1)

    assert world.take_fault(target, "E6") is None
    assert world.take_fault(target) is None, "a call to no named endpoint is not E3's"
    assert world.take_fault(target, "E3") is not None
    assert world.take_fault(target, "E3") is None, "used up"


def test_clearing_faults_restores_an_unknown_status(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)
    identity_id = world.identities()[0].id
    before = world.files(identity_id)[0]

    fault = world.add_fault("unknown_status")
    assert fault.file_id == before.id
    assert world.file(before.id).status == "Archived"  # type: ignore[union-attr]
    world.clear_faults()

    assert world.file(before.id) == before


class NoticedEvent(threading.Event):
    """An event that says when someone has started waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited_on = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waited_on.set()
        return super().wait(timeout)


def test_clearing_faults_wakes_a_sleeping_request(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)
    world._wake = asleep = NoticedEvent()
    sleeper = threading.Thread(target=world.sleep, args=(SLEEP := 30,))
    started = time.monotonic()
    sleeper.start()
    assert asleep.waited_on.wait(timeout=5), "the request is asleep"

    world.clear_faults()
    sleeper.join(timeout=5)

    assert not sleeper.is_alive()
    assert time.monotonic() - started < SLEEP / 10, "woken, not left to sleep its 30 s"


def test_bad_faults_are_refused(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock)

    with pytest.raises(ValueError, match="kind must be one of"):
        world.add_fault("meteor")
    with pytest.raises(ValueError, match="times"):
        world.add_fault("slow", times=0)
    with pytest.raises(LookupError):
        world.add_fault("slow", identity_id=1)
    with pytest.raises(ValueError, match="endpoint must be one of E1, E2"):
        world.add_fault("slow", endpoint="E9")
    assert "timeout" in FAULT_KINDS


def test_a_large_world_builds_and_answers_quickly() -> None:
    started = time.monotonic()
    world = SimulatedWorld(identities=1000, files_per_identity=100)
    built = time.monotonic() - started

    started = time.monotonic()
    for identity in world.identities()[:200]:
        assert len(world.files(identity.id)) == 100
    listed = time.monotonic() - started

    assert built < 5
    assert listed < 1
