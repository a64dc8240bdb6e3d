"""A PostgreSQL server of a test's own: initdb into a temporary folder, pg_ctl on a free port, so that stopping it
(a database outage) stops nobody else's.

PostgreSQL refuses to run as root; as root (CI, this machine) its commands run as the `postgres` user, which owns
the folder.

    with own_postgres() as postgres:  # or migrated_postgres(), with the product's tables
        postgres.url  # postgres://postgres@127.0.0.1:PORT/postgres
        postgres.stop(); postgres.start()
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from tests.support.services import service_unavailable
from tests.support.waiting import free_port


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        service_unavailable("PostgreSQL's initdb", "/usr/lib/postgresql/*/bin or PATH", "not installed")
    return Path(str(initdb)).parent


class OwnPostgres:
    def __init__(self) -> None:
        self.bin = _binaries()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="own-postgres-"))
        self.data = self.folder / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                service_unavailable("PostgreSQL", "user postgres", "no such user to run it as (root cannot)")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, cwd=self.folder)

    def initialise(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w",
                  "start")  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    postgres = OwnPostgres()
    try:
        postgres.initialise()
        postgres.start()
        yield postgres
    finally:
        postgres.remove()


def manage(database_url: str, *args: str) -> str:
    """Runs a manage.py command against another database (e.g. `migrate` on an own PostgreSQL); its output."""
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@contextlib.contextmanager
def migrated_postgres() -> Iterator[OwnPostgres]:
    """An own PostgreSQL with the product's tables."""
    with own_postgres() as postgres:
        manage(postgres.url, "migrate", "--noinput")
        yield postgres
