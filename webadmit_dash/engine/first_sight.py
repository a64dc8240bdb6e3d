"""Storing files seen for the first time: the one place the engine writes rows with SQL of its own.

A first sweep creates a row per listed file (hundreds per identity: 100,000 for the refresh benchmark's 1,000
identities), and `bulk_create` prepares every field of every instance one by one. Measured with
benchmarks/refresh.py on 2 cores (1,000 identities x 100 files, 2 workers x 16 threads):

    bulk_create for the files and their first history rows   27.2 s first sweep, 29.6 ms worker CPU per refresh
    this module (plain parameters, executemany)               16.2 s first sweep, 17.2 ms worker CPU per refresh

(the sweep's target is 20 s), so the files go in with one parameterised `executemany`, and their first history
rows with one `INSERT … SELECT` from the rows just inserted (so their ids need not come back). Identifiers come from
the models' meta and every value is a bound parameter. What this copies from Django is small and checked by
tests/engine/test_first_sight.py, which fails when it drifts: which columns a new file's row needs (every concrete
field but those left to their database default: nullable ones and generated ones), how a datetime is adapted for
the database, and that a row stored here reads back exactly as one stored by the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from django.db import connection, models

from webadmit_dash.core.models import ExportFile, Kind, StatusChange, UserIdentity
from webadmit_dash.webadmit import types

# The columns a first sighting writes, in the order of the values below. Every other field of ExportFile must be one
# the database fills by itself (nullable, or generated); the test checks that it still is.
FILE_COLUMNS = (
    "identity",
    "kind",
    "webadmit_id",
    "export_webadmit_id",
    "export",
    "href",
    "status",
    "raw_status",
    "first_seen_at",
    "status_changed_at",
    "change_seq",
)
HISTORY_COLUMNS = ("export_file", "old_status", "new_status", "raw_status", "changed_at")


def insert(
    identity: UserIdentity,
    items: Sequence[types.ExportFile],
    export_pks: dict[int, int],
    seq: int,
    now: datetime,
    kind: Kind = Kind.EXPORT,
) -> int:
    """Inserts the new files (or batches, of `kind`) and their first history rows, two statements whatever their
    number; call inside the apply step's transaction. `items` come cleaned and cut to their columns (engine.incoming,
    applied when a listing is planned and to a run Run again started): these statements bypass the ORM but never
    that."""
    if not items:
        return 0
    at = connection.ops.adapt_datetimefield_value(now)
    rows = [
        (
            identity.pk,
            kind.value,
            item.id,
            item.export_id,
            export_pks.get(item.export_id),
            item.href,
            item.status.value,
            item.raw_status,
            at,
            at,
            seq,
        )
        for item in items
    ]
    insert_files, insert_history = _statements(connection.vendor)
    new_ids = [item.id for item in items]
    placeholders = ", ".join(["%s"] * len(new_ids))
    with connection.cursor() as cursor:
        cursor.executemany(insert_files, rows)
        cursor.execute(f"{insert_history} IN ({placeholders})", [at, identity.pk, kind.value, *new_ids])
    return len(items)


def _names(model: type[models.Model], *fields: str) -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    columns = []
    for name in fields:
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field) and field.column, name  # concrete fields only
        columns.append(quote(field.column))
    return quote(model._meta.db_table), columns


@cache
def _statements(vendor: str) -> tuple[str, str]:
    """The two statements, built once per database vendor from the models' meta."""
    files, file_columns = _names(ExportFile, *FILE_COLUMNS)
    values = ", ".join(["%s"] * len(file_columns))
    insert_files = f"INSERT INTO {files} ({', '.join(file_columns)}) VALUES ({values})"  # noqa: S608
    history, history_columns = _names(StatusChange, *HISTORY_COLUMNS)
    _, (pk, status, raw_status, identity, kind, webadmit_id) = _names(
        ExportFile, "id", "status", "raw_status", "identity", "kind", "webadmit_id"
    )
    where = f"{identity} = %s AND {kind} = %s AND {webadmit_id}"
    select = f"SELECT {pk}, '', {status}, {raw_status}, %s FROM {files} WHERE {where}"  # noqa: S608
    insert_history = f"INSERT INTO {history} ({', '.join(history_columns)}) {select}"
    return insert_files, insert_history
