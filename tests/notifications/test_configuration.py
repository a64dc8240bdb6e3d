"""E-mail and the links' address come from the environment; with no EMAIL_HOST, mail goes to files in DATA_DIR/mail."""

from __future__ import annotations

import pytest

from tests.foundation.test_configuration import run_manage
from webadmit_dash.config import ConfigError, parse_site_url

SHOW = (
    "from django.conf import settings as s; "
    "print(s.EMAIL_BACKEND, getattr(s, 'EMAIL_FILE_PATH', ''), getattr(s, 'EMAIL_HOST', ''), "
    "getattr(s, 'EMAIL_PORT', ''), getattr(s, 'EMAIL_USE_TLS', ''), getattr(s, 'EMAIL_HOST_PASSWORD', '') == 'pw', "
    "s.DEFAULT_FROM_EMAIL, s.SITE_URL)"
)


def test_without_a_mail_server_messages_go_to_files_in_the_data_folder(tmp_path):
    result = run_manage("shell", "-v", "0", "-c", SHOW, env={"EMAIL_HOST": ""}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    backend, path, *_ = result.stdout.split()
    assert backend == "django.core.mail.backends.filebased.EmailBackend"
    assert path == str(tmp_path.resolve() / "mail")


def test_a_mail_server_is_configured_from_the_environment(tmp_path):
    secret = tmp_path / "smtp-password"
    secret.write_text("pw\n")
    env = {
        "EMAIL_HOST": "smtp.example.edu",
        "EMAIL_PORT": "587",
        "EMAIL_USE_TLS": "true",
        "EMAIL_HOST_USER": "dash",
        "EMAIL_HOST_PASSWORD_FILE": str(secret),
        "DEFAULT_FROM_EMAIL": "dash@example.edu",
        "SITE_URL": "https://dash.example.edu/",
    }
    result = run_manage("shell", "-v", "0", "-c", SHOW, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.edu",
        "587",
        "True",
        "True",
        "dash@example.edu",
        "https://dash.example.edu",
    ]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SITE_URL": "dash.example.edu"}, "SITE_URL: expected the dashboard's address"),
        ({"SITE_URL": "https://dash.example.edu:port"}, "SITE_URL: malformed URL"),
        ({"EMAIL_HOST": "smtp.example.edu", "EMAIL_PORT": "twenty-five"}, "EMAIL_PORT: expected a whole number"),
        ({"EMAIL_HOST": "smtp.example.edu", "EMAIL_USE_TLS": "perhaps"}, "EMAIL_USE_TLS: expected true or false"),
    ],
)
def test_a_bad_mail_setting_stops_with_one_line(tmp_path, env, expected):
    result = run_manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert expected in result.stderr


def test_site_url_is_normalised():
    assert parse_site_url("https://dash.example.edu/") == "https://dash.example.edu"
    assert parse_site_url("http://127.0.0.1:8000/dash/") == "http://127.0.0.1:8000/dash"
    with pytest.raises(ConfigError, match="without"):
        parse_site_url("https://dash.example.edu/?x=1")
