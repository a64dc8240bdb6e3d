"""A simulator started again resumes its world (`--state-file`): the same files, ids and statuses, the runs started
through the API included, and none of the time it was stopped."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from webadmit_dash.simulator import SimulatedWorld
from webadmit_dash.simulator.data import UNFINISHED
from webadmit_dash.simulator.journal import SAVE_EVERY, Journal
from webadmit_dash.simulator.server import add_arguments, build_server

from .conftest import FakeClock

Listing = dict[int, tuple[int, str]]  # file id -> (export id, status)


def listing(world: SimulatedWorld) -> Listing:
    return {f.id: (f.export_id, f.status) for i in world.identities() for f in world.files(i.id)}


def idle_export(world: SimulatedWorld, identity_id: int) -> int:
    """An export of the identity with no unfinished run, so that starting it makes a new run (E4 would otherwise
    return the unfinished one)."""
    busy = {f.export_id for f in world.files(identity_id) if f.status in UNFINISHED}
    return next(export.id for export in world.exports(identity_id) if export.id not in busy)


def test_a_world_rebuilt_from_its_epoch_time_and_started_runs_is_the_same_world(clock: FakeClock) -> None:
    first = SimulatedWorld(seed=7, pace=30, new_run_every=30, clock=clock)
    identity = first.identities()[0].id
    clock.tick(95)
    started = first.start_run(identity, idle_export(first, identity))  # an id between two periodic runs'
    clock.tick(200)
    added = first.add_run(first.identities()[1].id, outcome="failed")
    clock.tick(400)  # periodic runs after both
    before, stopped_at = listing(first), first.now()
    assert len(first.started_here) == 2 and {started.id, added.id} <= set(before)

    clock.tick(86_400)  # stopped for a day: the day does not count
    again = SimulatedWorld(
        seed=7, pace=30, new_run_every=30, clock=clock, epoch=first.created_at, world_time=stopped_at
    )
    again.replay(first.started_here)
    assert listing(again) == before


def test_without_the_replay_later_periodic_runs_would_take_other_ids(clock: FakeClock) -> None:
    """What the replay is for: a run started through E4 took an id that the periodic runs after it would get."""
    first = SimulatedWorld(seed=7, pace=30, new_run_every=30, clock=clock)
    identity = first.identities()[0].id
    clock.tick(95)
    first.start_run(identity, idle_export(first, identity))
    clock.tick(400)
    not_replayed = SimulatedWorld(
        seed=7, pace=30, new_run_every=30, clock=clock, epoch=first.created_at, world_time=first.now()
    )
    assert listing(not_replayed) != listing(first)


def options(tmp_path: Path, *extra: str) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--port=0", "--pace=30", "--new-run-every=30", f"--state-file={tmp_path / 'world.json'}", *extra]
    return vars(parser.parse_args(argv))


def progress(status: str) -> int:
    return UNFINISHED.index(status) if status in UNFINISHED else len(UNFINISHED)


def test_the_server_resumes_its_world_from_the_state_file_and_no_status_goes_back(tmp_path: Path) -> None:
    given = options(tmp_path)
    journal = Journal.for_options(given)
    assert journal is not None
    server = build_server(given, journal)
    world = server.world
    identity = world.identities()[0].id
    run = world.start_run(identity, idle_export(world, identity))
    saved = json.loads((tmp_path / "world.json").read_text())
    assert [entry["started_at"] for entry in saved["runs"]] == [run.started_at]  # saved as soon as started
    journal.save(world)  # as on a clean stop
    before = listing(world)
    stopped_at = json.loads((tmp_path / "world.json").read_text())["world_time"]
    server.stop()

    resumed = build_server(given, journal)
    try:
        assert resumed.world.created_at == world.created_at
        # It resumes just after the time it saved last, so no status anyone read can go back.
        assert stopped_at + SAVE_EVERY <= resumed.world.now() < stopped_at + SAVE_EVERY + 5
        after = listing(resumed.world)
        assert set(before) <= set(after) and run.id in after
        for file_id, (export_id, status) in before.items():
            assert after[file_id][0] == export_id
            assert progress(after[file_id][1]) >= progress(status), (file_id, status, after[file_id])
    finally:
        resumed.stop()


@pytest.mark.parametrize("content", ["{not json", json.dumps({"shape": {"seed": 99}, "epoch": 1, "world_time": 2})])
def test_an_unreadable_or_foreign_state_file_starts_a_new_world(tmp_path: Path, content: str) -> None:
    (tmp_path / "world.json").write_text(content)
    given = options(tmp_path)
    journal = Journal.for_options(given)
    assert journal is not None and journal.resume() is None
    server = build_server(given, journal)
    server.stop()
    assert server.world.created_at > 1_000_000  # now, not the file's epoch of 1
