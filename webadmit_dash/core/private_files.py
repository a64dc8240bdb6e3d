"""The SQLite database stays owner-only (0600): its file, and the -wal and -shm files beside it.

SQLite creates a new database world-readable (0644, less the umask) and gives its -wal and -shm files the
database file's permissions. So each new connection makes the three owner-only if they are not: from the first
connection on, the files SQLite creates are born owner-only, and the data folder around them is 0700 anyway
(made by local_data.py). A few stat calls per connection; PostgreSQL connections are left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from webadmit_dash.config import make_private

SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def sqlite_files(name: str) -> list[Path]:
    """The files of a SQLite database named `name` (none for an in-memory one)."""
    if not name or name == ":memory:" or "mode=memory" in name:
        return []
    path = Path(name.removeprefix("file:").split("?", 1)[0])
    return [path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS]


@receiver(connection_created, dispatch_uid="core.keep_sqlite_private")
def keep_sqlite_private(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor != "sqlite":
        return
    for path in sqlite_files(str(connection.settings_dict["NAME"])):
        make_private(path)
