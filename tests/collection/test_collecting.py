"""Collecting a file: a fresh link, the bytes streamed into the encrypted archive, the proof recorded, once; and
each of WebAdMIT's faults met as it should be, against the simulator over real HTTP."""

from __future__ import annotations

import pytest

from tests.collection.conftest import FILE_SIZE, Collection, ready_files
from tests.support.simulated import SimulatorControl
from webadmit_dash.collection import archive
from webadmit_dash.collection.models import CollectedFile, CollectionRule
from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.engine.models import CollectionCall
from webadmit_dash.simulator import expected_line_count, expected_sha256

pytestmark = pytest.mark.django_db


def _kept(collected: CollectedFile) -> bytes:
    return b"".join(
        archive.read(collected.storage_name, collected.wrapped_key, size=collected.size or 0, sha256=collected.sha256)
    )


def test_a_ready_file_is_collected_once_with_its_proof(refreshed: UserIdentity, collection: Collection) -> None:
    target = ready_files(refreshed)[0]
    CollectionRule.objects.create(export=target.export)

    collection.step()
    collection.step()

    collected = CollectedFile.objects.get(export_file=target)
    content_type = target.export.mime_type
    assert collected.state == CollectedFile.State.COLLECTED
    assert collected.size == FILE_SIZE
    assert collected.sha256 == expected_sha256(target.webadmit_id, FILE_SIZE, content_type)
    assert collected.line_count == expected_line_count(target.webadmit_id, FILE_SIZE, content_type)
    assert collected.content_type.split(";")[0] == content_type.split(";")[0]
    assert collected.collected_at is not None and collected.file_webadmit_id == target.webadmit_id
    assert len(_kept(collected)) == FILE_SIZE
    assert [outcome.collected for outcome in collection.collected] == [True]  # once, however many steps
    assert CollectionCall.objects.count() == 1  # one E5 call, counted in the key's collection share


def test_a_link_that_dies_mid_stream_is_asked_for_again_and_nothing_partial_is_kept(
    refreshed: UserIdentity, collection: Collection, sim: SimulatorControl, settings
) -> None:
    target = ready_files(refreshed)[0]
    CollectionRule.objects.create(export=target.export)
    sim.fault("cut_download", times=1, after_bytes=100_000)
    before = set(archive_files(settings))

    collection.step()

    collected = CollectedFile.objects.get(export_file=target)
    assert collected.state == CollectedFile.State.COLLECTED
    assert collected.sha256 == expected_sha256(target.webadmit_id, FILE_SIZE, target.export.mime_type)
    assert CollectionCall.objects.count() == 2  # a second link for the second try
    stored = set(archive_files(settings)) - before
    assert stored == {collected.storage_name}  # the broken first try left nothing behind


def archive_files(settings) -> list[str]:
    from pathlib import Path

    root = Path(settings.ARCHIVE_DIR)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*.wda"))


def test_links_dying_every_time_are_tried_again_later_with_the_reason(
    refreshed: UserIdentity, collection: Collection, sim: SimulatorControl
) -> None:
    target = ready_files(refreshed)[0]
    CollectionRule.objects.create(export=target.export)
    sim.fault("cut_download", times=3, after_bytes=1000)

    collection.step()

    collected = CollectedFile.objects.get(export_file=target)
    assert collected.state == CollectedFile.State.WAITING
    assert collected.attempts == 1
    assert "stopped after 1,000 bytes" in collected.last_error
    assert collected.next_attempt_at > collection.now

    collection.later(31)
    collection.step()
    collected.refresh_from_db()
    assert collected.state == CollectedFile.State.COLLECTED


def test_a_rate_limit_waits_as_long_as_webadmit_says_without_spending_a_try(
    refreshed: UserIdentity, collection: Collection, sim: SimulatorControl, sim_credential: Credential
) -> None:
    target = ready_files(refreshed)[0]
    CollectionRule.objects.create(export=target.export)
    sim.fault("rate_limited", endpoint="E5", times=1, seconds=120)

    collection.step()

    collected = CollectedFile.objects.get(export_file=target)
    sim_credential.refresh_from_db()
    assert collected.state == CollectedFile.State.WAITING and collected.attempts == 0
    assert "rate limit" in collected.last_error.lower()
    assert sim_credential.backoff_until is not None  # the whole key waits, refreshes too
    assert (collected.next_attempt_at - collection.now).total_seconds() >= 100


def test_a_rejected_key_waits_for_its_fix_without_spending_tries(
    refreshed: UserIdentity, collection: Collection, sim_credential: Credential
) -> None:
    target = ready_files(refreshed)[0]
    CollectionRule.objects.create(export=target.export)
    Credential.objects.filter(pk=sim_credential.pk).update(health=Credential.Health.KEY_REJECTED)

    collection.step()

    collected = CollectedFile.objects.get(export_file=target)
    assert collected.state == CollectedFile.State.WAITING and collected.attempts == 0
    assert "rejects the API key" in collected.last_error
    assert not CollectionCall.objects.exists()  # no call was made


def test_a_file_webadmit_no_longer_has_fails_for_good_with_its_words(
    refreshed: UserIdentity, collection: Collection, sim: SimulatorControl
) -> None:
    target = ready_files(refreshed)[0]
    CollectionRule.objects.create(export=target.export)
    sim.fault("identity_not_found", endpoint="E5", times=1)

    collection.step()

    collected = CollectedFile.objects.get(export_file=target)
    assert collected.state == CollectedFile.State.FAILED
    assert collected.last_error


def test_the_collection_share_of_the_key_is_never_exceeded(
    refreshed: UserIdentity, collection: Collection, sim_credential: Credential, settings
) -> None:
    settings.WEBADMIT_COLLECTION_SHARE = 1
    Credential.objects.filter(pk=sim_credential.pk).update(rate_limit_per_hour=200)  # 1 % of 200: two calls an hour
    files = ready_files(refreshed)
    assert len(files) >= 3
    CollectionRule.objects.create(identity=refreshed)

    collection.step()

    states = sorted(CollectedFile.objects.values_list("state", flat=True))
    assert states.count(CollectedFile.State.COLLECTED) == 2
    waiting = CollectedFile.objects.filter(state=CollectedFile.State.WAITING)
    assert waiting.exists() and all("share of the hourly limit" in row.last_error for row in waiting)
    assert CollectionCall.objects.count() == 2


def test_a_webadmit_outage_is_retried_with_backoff(
    refreshed: UserIdentity, collection: Collection, sim: SimulatorControl
) -> None:
    target = ready_files(refreshed)[0]
    CollectionRule.objects.create(export=target.export)
    sim.fault("server_error", endpoint="E5", times=1)

    collection.step()
    collected = CollectedFile.objects.get(export_file=target)
    assert collected.state == CollectedFile.State.WAITING and collected.attempts == 1
    first_wait = (collected.next_attempt_at - collection.now).total_seconds()
    assert 25 <= first_wait <= 35

    collection.later(first_wait + 1)
    collection.step()
    collected.refresh_from_db()
    assert collected.state == CollectedFile.State.COLLECTED
