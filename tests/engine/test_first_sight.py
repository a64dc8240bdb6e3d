"""engine.first_sight writes new files with SQL of its own: these tests fail when what it copies of Django drifts."""

from __future__ import annotations

import pytest
from django.db import models
from django.utils import timezone

from tests.support.factories import EXPORT_ID, listed
from webadmit_dash.core.models import ChangeCounter, Export, ExportFile, StatusChange
from webadmit_dash.engine import first_sight

pytestmark = pytest.mark.django_db


def test_every_field_of_a_new_file_is_written_or_left_to_the_database():
    """A field added to ExportFile must be written here, or be one the database fills (nullable, or generated):
    otherwise the first sweep would fail, or store a row the ORM would not have."""
    written = {ExportFile._meta.get_field(name).name for name in first_sight.FILE_COLUMNS}
    for field in ExportFile._meta.concrete_fields:
        if field.primary_key or field.name in written:
            continue
        assert field.null or isinstance(field, models.GeneratedField), (
            f"ExportFile.{field.name} is neither written by engine.first_sight nor left to the database"
        )
    history = set(first_sight.HISTORY_COLUMNS)
    for field in StatusChange._meta.concrete_fields:
        assert field.primary_key or field.name in history or field.null, (
            f"StatusChange.{field.name} is neither written by engine.first_sight nor left to the database"
        )


def test_a_file_stored_on_first_sight_reads_back_as_one_stored_by_the_orm(identity):
    export = Export.objects.create(identity=identity, webadmit_id=EXPORT_ID, name="Nightly Banner Export")
    now = timezone.now().replace(microsecond=123456)
    seq = ChangeCounter.next_value()
    first_sight.insert(identity, [listed(1, "In Progress")], {EXPORT_ID: export.pk}, seq, now)
    item = listed(2, "In Progress")
    by_orm = ExportFile.objects.create(
        identity=identity,
        webadmit_id=item.id,
        export_webadmit_id=item.export_id,
        export=export,
        href=item.href,
        status=item.status.value,
        raw_status=item.raw_status,
        first_seen_at=now,
        status_changed_at=now,
        change_seq=seq,
    )
    StatusChange.objects.create(
        export_file=by_orm, old_status="", new_status=by_orm.status, raw_status=by_orm.raw_status, changed_at=now
    )

    def stored(webadmit_id: int) -> dict[str, object]:
        row = ExportFile.objects.filter(webadmit_id=webadmit_id).values().get()
        history = list(
            StatusChange.objects.filter(export_file_id=row["id"]).values(
                "old_status", "new_status", "raw_status", "changed_at", "fanned_out_at"
            )
        )
        del row["id"], row["webadmit_id"], row["href"]
        return {**row, "history": history}

    assert stored(1) == stored(2)
    assert stored(1)["first_seen_at"] == now  # microseconds and the time zone survive the adaptation
