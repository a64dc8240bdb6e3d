"""Bad configuration fails with one clear line naming the variable, never a traceback."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from webadmit_dash.config import ConfigError, Env, generated_secret, parse_database_url, parse_fernet_keys

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "DATABASE", "CELERY"))}
    base.update({"DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "webadmit_dash.settings"})
    base.pop("ENCRYPTION_KEYS", None)
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "x" * 20 + "-long-random-production-secret-" + "y" * 30,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "dash.example.edu",
        "EMAIL_HOST": "smtp.example.edu",
    }
    env.update(overrides)
    return env


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_URL": "postgres://user@host:notaport/db"}, "DATABASE_URL: malformed URL"),
        ({"DATABASE_URL": "mysql://user@host/db"}, "DATABASE_URL: unsupported scheme 'mysql'"),
        ({"DATABASE_URL": "postgres://user@host:5432/"}, "DATABASE_URL: the PostgreSQL URL names no database"),
        ({"ENCRYPTION_KEYS": "not-a-key"}, "ENCRYPTION_KEYS: key #1 is not a valid Fernet key"),
        ({"WEBADMIT_FAST_INTERVAL": "soon"}, "WEBADMIT_FAST_INTERVAL: expected a whole number"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG: expected true or false"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE: unknown time zone"),
        ({"CELERY_BROKER_URL": "kafka://x"}, "CELERY_BROKER_URL: unsupported scheme"),
        ({"WEBADMIT_SLOW_INTERVAL": "300"}, "WEBADMIT_SLOW_INTERVAL: no longer used; settled identities are now"),
        ({"WEBADMIT_SETTLED_SHARE": "0"}, "WEBADMIT_SETTLED_SHARE: must be at least 1, got 0"),
        ({"WEBADMIT_SETTLED_SHARE": "150"}, "WEBADMIT_SETTLED_SHARE: must be at most 100, got 150"),
        ({"WEBADMIT_RATE_LIMIT_PER_HOUR": "0"}, "WEBADMIT_RATE_LIMIT_PER_HOUR: must be at least 1, got 0"),
        ({"WEBADMIT_INTERACTIVE_CALLS": "0"}, "WEBADMIT_INTERACTIVE_CALLS: must be at least 1, got 0"),
    ],
)
def test_bad_configuration_prints_one_line_naming_the_variable(tmp_path, env, expected):
    result = run_manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "configuration error" in line]
    assert len(error_lines) == 1
    assert expected in error_lines[0]


def test_production_refuses_to_start_without_secrets(tmp_path):
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = run_manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "DJANGO_SECRET_KEY: required when DJANGO_ENV=production" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_to_start_without_encryption_keys(tmp_path):
    env = production_env()
    del env["ENCRYPTION_KEYS"]
    result = run_manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "ENCRYPTION_KEYS: required when DJANGO_ENV=production" in result.stderr


@pytest.mark.slow
def test_development_generates_secrets_once_owner_only(tmp_path):
    first = run_manage("generate_secrets", "--write", env={}, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "generated one in" in first.stderr
    for name in ("secret_key", "encryption_key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    key_before = (tmp_path / "encryption_key").read_text()
    second = run_manage("generate_secrets", "--write", env={}, tmp_path=tmp_path)
    assert "generated" not in second.stderr
    assert (tmp_path / "encryption_key").read_text() == key_before
    assert run_manage("check", env={}, tmp_path=tmp_path).returncode == 0


def test_check_deploy_under_production_settings_has_no_warnings(tmp_path):
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_sqlite_urls_are_relative_or_absolute():
    assert parse_database_url("sqlite:///var/db.sqlite3")["NAME"] == "var/db.sqlite3"
    assert parse_database_url("sqlite:////data/db.sqlite3")["NAME"] == "/data/db.sqlite3"


def test_postgres_url_becomes_a_django_database():
    database = parse_database_url("postgres://web:s%40fe@db.internal:6543/dash?sslmode=require")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["USER"], database["PASSWORD"], database["HOST"], database["PORT"]) == (
        "web",
        "s@fe",
        "db.internal",
        "6543",
    )
    assert database["NAME"] == "dash"
    assert database["OPTIONS"] == {"sslmode": "require", "server_side_binding": True, "connect_timeout": "5"}


def test_server_side_binding_can_be_turned_off_for_pgbouncer():
    database = parse_database_url("postgres://web@db/dash?server_side_binding=false")
    assert database["OPTIONS"] == {"server_side_binding": False, "connect_timeout": "5"}


def test_several_encryption_keys_are_accepted_for_rotation():
    keys = [Fernet.generate_key().decode() for _ in range(2)]
    assert parse_fernet_keys(" , ".join(keys)) == keys


def test_an_invalid_second_key_is_named_by_position():
    with pytest.raises(ConfigError, match="key #2 is not a valid Fernet key"):
        parse_fernet_keys(Fernet.generate_key().decode() + ",short")


def test_secret_file_variant_is_read(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    assert Env({"DJANGO_SECRET_KEY_FILE": str(secret_file)}).string("DJANGO_SECRET_KEY") == "from-a-file"


def test_missing_secret_file_is_named():
    with pytest.raises(ConfigError, match="DJANGO_SECRET_KEY_FILE: cannot read"):
        Env({"DJANGO_SECRET_KEY_FILE": "/nonexistent/secret"}).string("DJANGO_SECRET_KEY")


def test_processes_starting_together_on_a_fresh_folder_agree_on_one_generated_secret(tmp_path):
    path = tmp_path / "data" / "secret_key"
    with ThreadPoolExecutor(max_workers=16) as pool:
        values = set(pool.map(lambda _: generated_secret(path, kind="django"), range(16)))
    assert values == {path.read_text(encoding="utf-8").strip()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"], "no draft left behind"


@pytest.mark.slow
def test_the_stylesheet_is_served_outside_production_with_debug_off(tmp_path):
    """`DJANGO_DEBUG=false make run` (to see the real error pages, say) still gets its CSS and scripts: WhiteNoise
    serves them from the project's folders, as runserver would with DEBUG on; production serves collectstatic's."""
    code = "from django.test import Client; print(Client(HTTP_HOST='127.0.0.1').get('/static/css/app.css').status_code)"
    run_manage("generate_secrets", "--write", env={}, tmp_path=tmp_path)
    result = run_manage("shell", "-c", code, env={"DJANGO_DEBUG": "false"}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "200"  # after the shell's line about its automatic imports


def test_a_json_object_setting_is_read_and_nonsense_is_refused_in_words() -> None:
    assert Env({}).json_object("ARCHIVE_STORAGE_OPTIONS") == {}
    assert Env({"ARCHIVE_STORAGE_OPTIONS": '{"bucket_name": "kept"}'}).json_object("ARCHIVE_STORAGE_OPTIONS") == {
        "bucket_name": "kept"
    }
    with pytest.raises(ConfigError, match="ARCHIVE_STORAGE_OPTIONS: not valid JSON"):
        Env({"ARCHIVE_STORAGE_OPTIONS": "{bucket"}).json_object("ARCHIVE_STORAGE_OPTIONS")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        Env({"ARCHIVE_STORAGE_OPTIONS": "[1]"}).json_object("ARCHIVE_STORAGE_OPTIONS")
