"""The fault matrix: every fault the simulator can inject, then recovery. Nothing known is lost or overwritten,
the identity says what happened, and the status history never records a transition twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from webadmit_dash.core.models import Credential, ExportFile, StatusChange, UserIdentity
from webadmit_dash.engine import credentials
from webadmit_dash.engine.refresh import Outcome, refresh_identity
from webadmit_dash.simulator.data import DOWNLOAD_FAULT_KINDS, FAULT_KINDS, UNKNOWN_STATUS_TEXT

pytestmark = pytest.mark.django_db

# kind: (fault options, outcome, error_kind, paused, words the message must contain)
EXPECTED = {
    "key_rejected": ({}, Outcome.FAILED, "key_rejected", True, "rejected the API key"),
    "identity_not_found": ({}, Outcome.FAILED, "not_found", True, "not found"),
    "rate_limited": ({"seconds": 1}, Outcome.FAILED, "rate_limited", False, "rate limit"),
    "server_error": ({}, Outcome.FAILED, "unavailable", False, "HTTP 500"),
    "unavailable": ({}, Outcome.FAILED, "unavailable", False, "HTTP 503"),
    "timeout": ({"seconds": 3}, Outcome.FAILED, "unavailable", False, "did not answer in time"),
    "malformed_json": ({}, Outcome.FAILED, "bad_response", False, "not a JSON object"),
    "slow": ({"seconds": 0.3}, Outcome.REFRESHED, "", False, ""),
    "unknown_status": ({}, Outcome.REFRESHED, "", False, ""),
}


def test_the_matrix_covers_every_fault_the_simulator_can_inject():
    # Download faults strike the fake S3, not the refresh's calls: tests/collection/test_collecting.py meets them.
    assert set(EXPECTED) == set(FAULT_KINDS) - set(DOWNLOAD_FAULT_KINDS)


def files_snapshot(identity: UserIdentity) -> dict[int, tuple]:
    rows = ExportFile.objects.filter(identity=identity)
    return {row[0]: row[1:] for row in rows.values_list("pk", "status", "raw_status", "gone_at", "export_id")}


def history_snapshot(identity: UserIdentity) -> list[tuple]:
    changes = StatusChange.objects.filter(export_file__identity=identity).order_by("pk")
    return list(changes.values_list("pk", "export_file_id", "old_status", "new_status", "raw_status"))


def assert_no_duplicate_transitions(identity: UserIdentity) -> None:
    transitions = Counter((file, old, new, raw) for _, file, old, new, raw in history_snapshot(identity))
    assert [transition for transition, count in transitions.items() if count > 1] == []


def recover(kind: str, identity: UserIdentity, sim) -> None:
    """What a person (or time) does once WebAdMIT is healthy again."""
    sim.clear_faults()
    if kind == "key_rejected":
        credentials.test_connection(Credential.objects.get())  # "Test connection" resumes the paused identities
    elif kind == "identity_not_found":
        UserIdentity.objects.filter(pk=identity.pk).update(paused=False)  # un-paused in the admin


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_fault_then_recovery_loses_nothing_and_says_what_happened(kind, sim_identity, sim, settings):
    settings.WEBADMIT_READ_TIMEOUT = 1  # so the `timeout` fault costs a second, not twenty
    options, outcome, error_kind, paused, words = EXPECTED[kind]
    now = timezone.now()
    refresh_identity(sim_identity.pk, now=now)
    files_before, history_before = files_snapshot(sim_identity), history_snapshot(sim_identity)
    sim.fault(kind, sim_identity.webadmit_id, **options)

    result = refresh_identity(sim_identity.pk, now=now + timedelta(seconds=20))

    identity = UserIdentity.objects.get(pk=sim_identity.pk)
    assert result.outcome is outcome
    assert (identity.error_kind, identity.paused) == (error_kind, paused)
    assert words in identity.error_message
    assert identity.consecutive_failures == (1 if error_kind else 0)
    if outcome is Outcome.FAILED:
        assert files_snapshot(sim_identity) == files_before, "a failed refresh overwrites nothing"
        assert history_snapshot(sim_identity) == history_before
        assert identity.last_success_at == now and identity.last_attempt_at > now
    if not paused and error_kind:
        assert identity.next_refresh_at > identity.last_attempt_at, "backs off instead of hammering"
    if kind == "unknown_status":
        assert ExportFile.objects.filter(identity=identity, raw_status=UNKNOWN_STATUS_TEXT, status="unknown").exists()

    recover(kind, identity, sim)
    result = refresh_identity(sim_identity.pk, now=now + timedelta(minutes=5))

    identity = UserIdentity.objects.get(pk=sim_identity.pk)
    assert result.outcome is Outcome.REFRESHED
    assert (identity.error_kind, identity.error_message, identity.paused, identity.consecutive_failures) == (
        "",
        "",
        False,
        0,
    )
    assert set(files_before) <= set(files_snapshot(sim_identity)), "no row lost"
    assert {pk for pk, *_ in history_before} <= {pk for pk, *_ in history_snapshot(sim_identity)}
    assert_no_duplicate_transitions(sim_identity)
    assert {row[0] for row in files_snapshot(sim_identity).values()} == {row[0] for row in files_before.values()}, (
        "back to what WebAdMIT says once healthy"
    )


def test_a_rate_limit_backs_the_whole_credential_off_as_long_as_webadmit_says(sim_identities, sim):
    now = timezone.now()
    sim.fault("rate_limited", seconds=40)

    refresh_identity(sim_identities[0].pk, now=now)

    credential = Credential.objects.get()
    assert credential.backoff_until == now + timedelta(seconds=40)
    assert credential.rate_limit_remaining == 0 and credential.cadence_factor >= 2
    identity = UserIdentity.objects.get(pk=sim_identities[0].pk)
    assert identity.next_refresh_at >= credential.backoff_until


def test_repeated_failures_back_off_exponentially_and_count_up(sim_identity, sim, settings):
    settings.WEBADMIT_FAST_INTERVAL = 15
    sim.fault("unavailable", sim_identity.webadmit_id)
    now = timezone.now()
    delays = []
    for attempt in range(5):
        attempt_at = now + timedelta(hours=attempt)
        refresh_identity(sim_identity.pk, now=attempt_at)
        identity = UserIdentity.objects.get(pk=sim_identity.pk)
        delays.append((identity.next_refresh_at - attempt_at).total_seconds())

    assert identity.consecutive_failures == 5
    for attempt, delay in enumerate(delays):
        assert 15 * 2**attempt / 2 <= delay <= 15 * 2**attempt
