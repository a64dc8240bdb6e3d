"""Which files are collected and where they go: rules read against the files that became ready, once each."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.factories import change_status, make_export, make_file
from webadmit_dash.collection import choosing
from webadmit_dash.collection.models import (
    CollectedFile,
    CollectionRule,
    DeliveryRule,
    Destination,
    FileDelivery,
)
from webadmit_dash.core.models import UserIdentity
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


def _next_cycle(identity: UserIdentity) -> UserIdentity:
    return UserIdentity.objects.create(
        credential=identity.credential,
        webadmit_id=identity.webadmit_id + 1,
        association=identity.association,
        organization=identity.organization,
        cycle="2027 - 2028",
    )


def _folder(tmp_path: Path) -> Destination:
    return Destination.objects.create(name="Outbox", kind=Destination.Kind.FOLDER, path=str(tmp_path))


def test_a_rule_by_cas_and_export_name_covers_next_cycles_identity_too(identity: UserIdentity) -> None:
    CollectionRule.objects.create(association="sophas", export_name="nightly banner export")
    later = _next_cycle(identity)
    this_year = make_file(identity, FileStatus.AVAILABLE)
    next_year = make_file(later, FileStatus.SUCCESS_WITH_ERRORS, export=make_export(later, 29_897))
    other_export = make_file(identity, FileStatus.AVAILABLE, export=make_export(identity, 1, "Decisions"))

    assert choosing.scan() == 2

    collected = set(CollectedFile.objects.values_list("export_file_id", flat=True))
    assert collected == {this_year.pk, next_year.pk}
    assert other_export.pk not in collected


def test_only_ready_files_still_listed_are_collected(identity: UserIdentity) -> None:
    CollectionRule.objects.create(identity=identity)
    running = make_file(identity, FileStatus.IN_PROGRESS)
    make_file(identity, FileStatus.FAILED)
    make_file(identity, FileStatus.EMPTY_LIST)
    make_file(identity, FileStatus.AVAILABLE, gone=True)

    choosing.scan()
    assert not CollectedFile.objects.exists()

    change_status(running, FileStatus.AVAILABLE)
    choosing.scan()
    assert list(CollectedFile.objects.values_list("export_file_id", flat=True)) == [running.pk]


def test_a_file_is_recorded_once_however_often_it_is_scanned(identity: UserIdentity) -> None:
    CollectionRule.objects.create(identity=identity)
    ready = make_file(identity, FileStatus.AVAILABLE)
    choosing.scan()
    change_status(ready, FileStatus.AVAILABLE)  # a new change number for the same file
    CollectionRule.objects.create(association=identity.association)  # and the mark moved back to the start
    choosing.scan()
    assert CollectedFile.objects.filter(export_file=ready).count() == 1


def test_a_new_rule_finds_files_already_ready_but_not_older_than_its_since(identity: UserIdentity) -> None:
    recent = make_file(identity, FileStatus.AVAILABLE)
    old = make_file(identity, FileStatus.AVAILABLE, first_seen_at=timezone.now() - timedelta(days=3))
    choosing.scan()  # nothing to do: no rule yet, and the mark moves on
    CollectionRule.objects.create(identity=identity)
    choosing.scan()
    assert list(CollectedFile.objects.values_list("export_file_id", flat=True)) == [recent.pk]
    assert old.pk not in CollectedFile.objects.values_list("export_file_id", flat=True)


def test_an_idle_scan_is_two_queries_however_many_files(identity: UserIdentity) -> None:
    CollectionRule.objects.create(identity=identity)
    for _ in range(30):
        make_file(identity, FileStatus.AVAILABLE)
    choosing.scan()
    with CaptureQueriesContext(connection) as queries:
        assert choosing.scan() == 0
    assert len(queries) == 2


def test_a_rule_covering_everything_is_refused_in_words() -> None:
    with pytest.raises(ValidationError, match="Choose what the rule covers"):
        CollectionRule().clean()


def test_a_delivery_rule_collects_its_files_and_owes_one_delivery_once_collected(
    identity: UserIdentity, tmp_path: Path
) -> None:
    destination = _folder(tmp_path)
    DeliveryRule.objects.create(destination=destination, export_name="Nightly Banner Export")
    ready = make_file(identity, FileStatus.AVAILABLE)
    choosing.scan()
    collected = CollectedFile.objects.get(export_file=ready)
    assert not FileDelivery.objects.exists()  # nothing to deliver until it is in the archive

    CollectedFile.objects.filter(pk=collected.pk).update(
        state=CollectedFile.State.COLLECTED, content_type="text/csv", storage_name="files/x.wda", size=1
    )
    collected.refresh_from_db()
    owed = choosing.owe_deliveries(collected)
    assert [delivery.destination for delivery in owed] == [destination]
    assert owed[0].file_name.startswith("Nightly_Banner_Export_") and owed[0].file_name.endswith(
        f"_{ready.webadmit_id}.csv"
    )
    assert choosing.owe_deliveries(collected) == []  # owed once
    assert FileDelivery.objects.count() == 1


def test_a_delivery_rule_added_later_owes_deliveries_for_files_already_collected(
    identity: UserIdentity, tmp_path: Path
) -> None:
    CollectionRule.objects.create(identity=identity)
    ready = make_file(identity, FileStatus.AVAILABLE)
    choosing.scan()
    CollectedFile.objects.filter(export_file=ready).update(
        state=CollectedFile.State.COLLECTED, content_type="text/csv", storage_name="files/x.wda", size=1
    )
    DeliveryRule.objects.create(destination=_folder(tmp_path), identity=identity)
    choosing.scan()
    assert FileDelivery.objects.filter(collected__export_file=ready).count() == 1


def test_disabled_rules_and_destinations_owe_nothing(identity: UserIdentity, tmp_path: Path) -> None:
    destination = _folder(tmp_path)
    CollectionRule.objects.create(identity=identity, enabled=False)
    DeliveryRule.objects.create(destination=destination, identity=identity)
    Destination.objects.filter(pk=destination.pk).update(enabled=False)
    make_file(identity, FileStatus.AVAILABLE)
    choosing.scan()
    assert not CollectedFile.objects.exists()


def test_a_file_found_by_a_dispatch_is_sent_by_that_same_dispatch(identity: UserIdentity) -> None:
    from webadmit_dash.collection import tasks

    CollectionRule.objects.create(identity=identity)
    make_file(identity, FileStatus.AVAILABLE)
    sent = tasks.dispatch()
    assert sent["looked_at"] == 1 and sent["collections"] == 1
