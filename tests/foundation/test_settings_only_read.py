"""Settings only read (issue 20): importing them creates no folder and writes no secret; the commands that need the
data folder make it, and the others say, in words, which command does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache

from webadmit_dash.config import parse_fernet_keys

# Each test runs Python or manage.py in fresh processes: seconds apiece.
pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": "x" * 60,
    "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "dash.example.edu",
    "EMAIL_HOST": "smtp.example.edu",
}
IMPORT_SETTINGS = "import webadmit_dash.settings as s; print(bool(s.SECRET_KEY), len(s.ENCRYPTION_KEYS))"


def run(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Python in a fresh process with the product's own settings (not the tests'), on its own data folder."""
    return run_program(sys.executable, *args, data_dir=data_dir, **env)


def run_program(*command: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "DATABASE", "CELERY"))}
    base.pop("ENCRYPTION_KEYS", None)
    base.update({"DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "webadmit_dash.settings", **env})
    return subprocess.run(command, cwd=PROJECT_ROOT, env=base, capture_output=True, text=True, timeout=60)


def test_importing_the_settings_creates_no_folder_and_writes_no_secret(tmp_path):
    missing = tmp_path / "not-yet"
    result = run("-c", IMPORT_SETTINGS, data_dir=missing)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "0"]
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("-c", IMPORT_SETTINGS, data_dir=empty).returncode == 0
    assert list(empty.iterdir()) == []


def test_a_command_that_needs_the_secrets_names_the_command_that_makes_them(tmp_path):
    result = run("manage.py", "migrate", data_dir=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        f"{tmp_path} is not prepared: no Django secret key (DJANGO_SECRET_KEY) and no encryption key "
        "(ENCRYPTION_KEYS). Run `python manage.py generate_secrets --write` once"
    ) in result.stderr
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "encryption_key").exists()


def test_a_worker_started_by_hand_on_an_unprepared_folder_says_so_in_one_line(tmp_path):
    celery = str(Path(sys.executable).with_name("celery"))
    result = run_program(celery, "-A", "webadmit_dash", "worker", "--pool=solo", data_dir=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "configuration error" in line]
    assert f"{tmp_path} is not prepared: no Django secret key" in line
    assert "generate_secrets --write" in line


def test_a_worker_with_secrets_from_the_environment_makes_the_broker_folders_it_needs(tmp_path):
    celery = str(Path(sys.executable).with_name("celery"))
    given = {"DJANGO_SECRET_KEY": "d" * 60, "ENCRYPTION_KEYS": PRODUCTION["ENCRYPTION_KEYS"]}
    ping = run_program(celery, "-A", "webadmit_dash", "inspect", "ping", "--timeout", "1", data_dir=tmp_path, **given)
    assert "Traceback" not in ping.stderr, ping.stderr
    assert (tmp_path / "celery" / "queue").is_dir() and (tmp_path / "celery" / "control").is_dir()


def test_generate_secrets_write_prepares_the_data_folder_and_then_migrate_runs(tmp_path):
    data_dir = tmp_path / "data"
    prepared = run("manage.py", "generate_secrets", "--write", data_dir=data_dir)
    assert prepared.returncode == 0, prepared.stderr
    assert data_dir.stat().st_mode & 0o777 == 0o700
    for name in ("secret_key", "encryption_key"):
        assert (data_dir / name).stat().st_mode & 0o777 == 0o600
    assert (data_dir / "celery" / "queue").is_dir() and (data_dir / "celery" / "control").is_dir()
    secret = (data_dir / "secret_key").read_text()
    assert secret.strip() not in prepared.stdout + prepared.stderr, "a kept secret is never printed"
    migrated = run("manage.py", "migrate", "--noinput", data_dir=data_dir)
    assert migrated.returncode == 0, migrated.stderr
    assert run("-c", IMPORT_SETTINGS, data_dir=data_dir).stdout.split() == ["True", "1"]


def test_generate_secrets_prints_new_env_lines_and_writes_nothing(tmp_path):
    first = run("manage.py", "generate_secrets", data_dir=tmp_path)
    second = run("manage.py", "generate_secrets", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    values = dict(re.findall(r"^([A-Z_]+)=(\S+)$", first.stdout, flags=re.MULTILINE))
    assert set(values) == {"DJANGO_SECRET_KEY", "ENCRYPTION_KEYS"}
    assert len(values["DJANGO_SECRET_KEY"]) >= 50
    assert parse_fernet_keys(values["ENCRYPTION_KEYS"]) == [values["ENCRYPTION_KEYS"]]
    assert values["DJANGO_SECRET_KEY"] not in second.stdout, "each run makes new ones"
    assert all(line.startswith("#") or "=" in line for line in first.stdout.splitlines()), ".env form"
    assert list(tmp_path.iterdir()) == []


def test_production_without_a_secret_names_the_command_that_makes_one(tmp_path):
    without = {name: value for name, value in PRODUCTION.items() if name != "DJANGO_SECRET_KEY"}
    result = run("manage.py", "check", data_dir=tmp_path, **without)
    assert result.returncode == 2
    assert "DJANGO_SECRET_KEY: required when DJANGO_ENV=production" in result.stderr
    assert "`DJANGO_ENV=development python manage.py generate_secrets` prints new ones" in result.stderr


def test_generate_secrets_prints_them_in_production_and_refuses_to_write_them_there(tmp_path):
    result = run("manage.py", "generate_secrets", data_dir=tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "ENCRYPTION_KEYS=" in result.stdout
    refused = run("manage.py", "generate_secrets", "--write", data_dir=tmp_path, **PRODUCTION)
    assert refused.returncode == 1
    assert "in production, put the printed lines in the environment" in refused.stderr
    assert list(tmp_path.iterdir()) == []


def test_production_installs_neither_the_simulator_nor_the_local_stack(tmp_path):
    code = (
        "from django.apps import apps; from django.conf import settings; "
        "print(apps.is_installed('webadmit_dash.simulator'), apps.is_installed('webadmit_dash.stack'), "
        "hasattr(settings, 'WEBADMIT_DEFAULT_BASE_URL'))"
    )
    in_production = run("manage.py", "shell", "-c", code, data_dir=tmp_path, **PRODUCTION)
    assert in_production.returncode == 0, in_production.stderr
    assert in_production.stdout.split()[-3:] == ["False", "False", "False"]
    commands = run("manage.py", "help", "--commands", data_dir=tmp_path, **PRODUCTION).stdout.split()
    assert "runstack" not in commands and "simulate_webadmit" not in commands
    assert "generate_secrets" in commands
    run("manage.py", "generate_secrets", "--write", data_dir=tmp_path)
    in_development = run("manage.py", "shell", "-c", code, data_dir=tmp_path)
    assert in_development.stdout.split()[-3:] == ["True", "True", "False"]


def test_the_cache_has_room_for_every_identity_of_a_large_installation():
    """The dashboard keeps one entry per identity (web/listing.py); Django's default cache keeps 300 entries."""
    cache.clear()
    entries = {f"dashboard:counts:test:{pk}": (1, {"available": pk}) for pk in range(2_000)}
    cache.set_many(entries, 60)
    assert cache.get_many(list(entries)) == entries
    cache.clear()
