"""What the benchmarks that run the production web server share: its command (the Dockerfile's CMD), the
environment it runs in here, and an emptied PostgreSQL database to run it on."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """DJANGO_ENV=production in `data_dir` (SQLite there unless `database_url`), on plain HTTP at 127.0.0.1."""
    from cryptography.fernet import Fernet

    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_URL", "CELERY_"))}
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(
        DATA_DIR=str(data_dir),
        DJANGO_ENV="production",
        DJANGO_SETTINGS_MODULE="webadmit_dash.settings",
        DJANGO_SECRET_KEY="benchmark-only-" + "x" * 40,
        ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        STATIC_ROOT=str(data_dir / "static"),
        WEBADMIT_ALLOW_LOOPBACK="true",
    )
    return env


def production_command(port: int, checkout: Path = ROOT) -> list[str]:
    """The Dockerfile's CMD in `checkout`, bound to a loopback port, run from this virtualenv."""
    line = next(line for line in (checkout / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    command: list[str] = json.loads(line[4:])
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    command[0] = str(Path(sys.executable).with_name(command[0]))
    return command


def empty_schema(url: str) -> None:
    """Drops everything in the database's public schema: name a database that holds nothing else."""
    import psycopg

    with psycopg.connect(url.split("?")[0], autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
