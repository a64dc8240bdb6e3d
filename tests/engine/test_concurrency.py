"""Two refreshes of one identity at once: the lock lets one through, and even without the lock (one that expired
under a stuck refresh) the conditional writes record each real transition exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from django.db import connection
from django.utils import timezone

from tests.support.waiting import eventually
from webadmit_dash.core.models import ExportFile, StatusChange, UserIdentity
from webadmit_dash.engine import apply
from webadmit_dash.engine.refresh import Outcome, refresh_identity
from webadmit_dash.webadmit import ExportFile as UpstreamFile
from webadmit_dash.webadmit import parse_status

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Runs the calls in parallel threads, released together, each with its own database connection."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        try:
            barrier.wait()
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [future.result() for future in [pool.submit(run, call) for call in calls]]


def transitions(identity: UserIdentity) -> list[tuple[int, str, str]]:
    changes = StatusChange.objects.filter(export_file__identity=identity).order_by("pk")
    return list(changes.values_list("export_file__webadmit_id", "old_status", "new_status"))


def test_two_refreshes_at_once_make_one_pass_and_one_history_row_per_transition(sim_identity, sim):
    sim.fault("slow", sim_identity.webadmit_id, seconds=0.5)  # so that both are surely inside at once

    outcomes = at_once(lambda: refresh_identity(sim_identity.pk), lambda: refresh_identity(sim_identity.pk))

    assert sorted(outcome.outcome for outcome in outcomes) == [Outcome.REFRESHED, Outcome.SKIPPED]
    file_id = sim.file_ids(sim_identity.webadmit_id)[-1]
    sim.force(file_id, "Failed")
    at_once(lambda: refresh_identity(sim_identity.pk), lambda: refresh_identity(sim_identity.pk))
    refresh_identity(sim_identity.pk)  # and once more, as a redelivered task would

    history = transitions(sim_identity)
    assert len(history) == len(set(history)) == len(sim.file_ids(sim_identity.webadmit_id)) + 1
    assert history[-1][0] == file_id and history[-1][2] == "failed"


def listing(statuses: dict[int, str]) -> list[UpstreamFile]:
    return [
        UpstreamFile(file_id, f"/api/v1/exports/7/export_files/{file_id}", 7, parse_status(raw), raw)
        for file_id, raw in statuses.items()
    ]


def test_two_applies_of_one_listing_at_once_record_each_transition_once(identity):
    now = timezone.now()
    first = listing({1: "Queued", 2: "Queued", 3: "In Progress"})
    at_once(*[lambda: apply.apply_listing(identity, first, now)] * 2)
    assert ExportFile.objects.count() == 3 and len(transitions(identity)) == 3

    second = listing({1: "In Progress", 2: "Queued", 3: "Available"})
    results = at_once(*[lambda: apply.apply_listing(identity, second, now)] * 3)

    assert sum(result.transitions for result in results) == 2
    assert sorted(transitions(identity)[3:]) == [(1, "queued", "in_progress"), (3, "in_progress", "available")]


def test_a_refresh_that_succeeds_while_a_sibling_finds_the_key_rejected_stays_paused(sim_identity, sim):
    # WebAdMIT holds the refresh's first call until the sibling has written: the refresh has read the identity and
    # is surely in flight meanwhile.
    sim.fault("slow", sim_identity.webadmit_id, seconds=60)

    def webadmit_holds_the_refreshs_call() -> bool:
        try:
            return any(identity == sim_identity.webadmit_id for _, identity in sim.server.app.calls)
        except RuntimeError:  # the counter changed size while read: a call arrived, look again
            return False

    def sibling_finds_the_key_rejected() -> None:
        eventually(webadmit_holds_the_refreshs_call, what="the refresh's call to reach WebAdMIT")
        UserIdentity.objects.filter(pk=sim_identity.pk).update(
            paused=True, error_kind="key_rejected", error_message="WebAdMIT rejected the API key"
        )
        sim.clear_faults()  # wakes the held call

    outcomes = at_once(lambda: refresh_identity(sim_identity.pk), sibling_finds_the_key_rejected)

    identity = UserIdentity.objects.get(pk=sim_identity.pk)
    assert outcomes[0].outcome is Outcome.REFRESHED and ExportFile.objects.filter(identity=identity).exists()
    assert (identity.paused, identity.error_kind) == (True, "key_rejected"), "kept, so that a new key resumes it"
    assert identity.refreshing_until is None
