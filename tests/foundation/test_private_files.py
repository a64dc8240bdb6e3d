"""The data folder (0700), the SQLite database and its -wal and -shm files (0600) are owner-only, like the secrets
generated beside them, even under a permissive umask."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webadmit_dash.config import make_private, private_directory
from webadmit_dash.core.private_files import sqlite_files

# Django in fresh processes on folders of their own: seconds apiece.
pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Holds a connection open after a write, so that SQLite's -wal and -shm files exist, and prints every file's mode.
HOLD_AND_LIST = """
import os
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
data = os.environ["DATA_DIR"]
for name in sorted(os.listdir(data)):
    print(name, oct(os.stat(os.path.join(data, name)).st_mode & 0o777))
print("DATA_DIR", oct(os.stat(data).st_mode & 0o777))
"""


def run_in_django(data_dir: Path, code: str) -> dict[str, int]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "DATABASE", "CELERY"))}
    env.update({"DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "webadmit_dash.settings"})
    # The data folder is made (and made private again) by the command that prepares it, as `make run` does.
    prepare = [sys.executable, "manage.py", "generate_secrets", "--write"]
    subprocess.run(prepare, cwd=PROJECT_ROOT, env=env, check=True, capture_output=True, umask=0o022)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        umask=0o022,  # the usual default: without care, files come out world-readable
    )
    assert result.returncode == 0, result.stderr
    listed = (line.split() for line in result.stdout.splitlines())
    return {parts[0]: int(parts[1], 8) for parts in listed if len(parts) == 2 and parts[1].startswith("0o")}


def test_a_new_data_folder_and_database_are_owner_only(tmp_path):
    data_dir = tmp_path / "data"
    modes = run_in_django(data_dir, HOLD_AND_LIST)
    assert modes["DATA_DIR"] == 0o700
    assert {"db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"} <= modes.keys()
    for name in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "secret_key", "encryption_key"):
        assert modes[name] == 0o600, f"{name} is {oct(modes[name])}"


def test_an_existing_world_readable_data_folder_and_database_are_made_owner_only(tmp_path):
    data_dir = tmp_path / "data"
    run_in_django(data_dir, "pass")
    data_dir.chmod(0o755)
    (data_dir / "db.sqlite3").touch()
    (data_dir / "db.sqlite3").chmod(0o644)
    modes = run_in_django(data_dir, HOLD_AND_LIST)
    assert modes["DATA_DIR"] == 0o700
    assert modes["db.sqlite3"] == modes["db.sqlite3-wal"] == modes["db.sqlite3-shm"] == 0o600


def test_private_helpers_leave_what_is_missing_alone(tmp_path):
    make_private(tmp_path / "absent")  # no error, nothing created
    assert not (tmp_path / "absent").exists()
    folder = private_directory(tmp_path / "a" / "b")
    assert folder.stat().st_mode & 0o777 == 0o700


def test_in_memory_databases_have_no_files():
    assert sqlite_files(":memory:") == []
    assert sqlite_files("file:memdb1?mode=memory&cache=shared") == []
    assert [path.name for path in sqlite_files("/data/db.sqlite3")] == [
        "db.sqlite3",
        "db.sqlite3-wal",
        "db.sqlite3-shm",
        "db.sqlite3-journal",
    ]
