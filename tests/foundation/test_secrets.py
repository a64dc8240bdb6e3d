"""An API key saved through the admin appears nowhere in plaintext: database, admin HTML, logs."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import responses
from django.apps import apps
from django.db import connection
from django.urls import reverse

from webadmit_dash.core import crypto
from webadmit_dash.core.models import Credential, UserIdentity

SECRET_KEY = "c0ffee00deadbeef1234567890abcdef"
E1_BODY = {
    "href": "/api/v1/user_identities",
    "user_identities": [
        {
            "id": 261149,
            "type": "Admissions User",
            "association": "ArchCAS",
            "institution": "Woodbury University",
            "organization": "Woodbury University",
            "cycle": "2017 - 2018",
        }
    ],
}


def add_credential_through_admin(client, api_key: str = SECRET_KEY):
    return client.post(
        reverse("admin:dashboard_credential_add"),
        {
            "name": "Graduate Nursing",
            "base_url": "https://api.webadmit.org",
            "api_key": api_key,
            "rate_limit_per_hour": 5000,
        },
    )


def every_stored_value() -> str:
    """Every column of every row of every table, as text: what a database dump would show."""
    values = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
            values.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(values)


@pytest.fixture
def admin_client_logged_in(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.django_db(transaction=True)
def test_saved_key_is_encrypted_in_every_table_and_in_the_database_file(admin_client_logged_in):
    response = add_credential_through_admin(admin_client_logged_in)
    assert response.status_code == 302
    credential = Credential.objects.get()
    assert credential.get_api_key() == SECRET_KEY
    assert SECRET_KEY not in every_stored_value()
    database_name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(FULL)")
        for path in (Path(database_name), Path(f"{database_name}-wal")):
            if path.exists():
                assert not _file_contains(path, SECRET_KEY)


def _file_contains(path: Path, text: str) -> bool:
    """Reads the file in another process. Opening and closing the database file here would drop every POSIX lock
    this process's SQLite connections hold on it (the live server's included), and corrupt the test database
    under the next test's worker process."""
    script = "import sys; sys.exit(sys.argv[2].encode() in open(sys.argv[1], 'rb').read())"
    return subprocess.run([sys.executable, "-c", script, str(path), text], check=False).returncode == 1


@pytest.mark.django_db
def test_admin_pages_only_show_the_masked_key(admin_client_logged_in, identity):
    add_credential_through_admin(admin_client_logged_in)
    credential = Credential.objects.get(name="Graduate Nursing")
    pages = [
        reverse("admin:dashboard_credential_changelist"),
        reverse("admin:dashboard_credential_change", args=[credential.pk]),
        reverse("admin:dashboard_credential_history", args=[credential.pk]),
        reverse("admin:dashboard_credential_delete", args=[credential.pk]),
        reverse("admin:dashboard_useridentity_changelist"),
        reverse("admin:dashboard_useridentity_change", args=[identity.pk]),
        reverse("admin:index"),
    ]
    for page in pages:
        html = admin_client_logged_in.get(page).content.decode()
        assert SECRET_KEY not in html, page
        assert credential.api_key_encrypted not in html, page
    change_page = admin_client_logged_in.get(pages[1]).content.decode()
    assert "••••••••cdef" in change_page


@pytest.mark.django_db
def test_editing_with_a_blank_key_keeps_the_old_one(admin_client_logged_in):
    add_credential_through_admin(admin_client_logged_in)
    credential = Credential.objects.get()
    response = admin_client_logged_in.post(
        reverse("admin:dashboard_credential_change", args=[credential.pk]),
        {
            "name": "Nursing (renamed)",
            "base_url": "https://api.webadmit.org",
            "api_key": "",
            "rate_limit_per_hour": 5000,
        },
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.name == "Nursing (renamed)"
    assert credential.get_api_key() == SECRET_KEY


@pytest.mark.django_db
def test_a_new_key_is_required_when_adding(admin_client_logged_in):
    response = add_credential_through_admin(admin_client_logged_in, api_key="")
    assert response.status_code == 200
    assert "Enter the API key for this credential." in response.content.decode()
    assert not Credential.objects.exists()


@responses.activate
@pytest.mark.django_db
def test_key_is_absent_from_logs_at_debug_level(admin_client_logged_in, caplog):
    caplog.set_level(logging.DEBUG)
    responses.get("https://api.webadmit.org/api/v1/user_identities", json=E1_BODY)
    add_credential_through_admin(admin_client_logged_in)
    credential = Credential.objects.get()
    for action in ("test_connection", "import_identities"):
        admin_client_logged_in.post(
            reverse("admin:dashboard_credential_changelist"),
            {"action": action, "_selected_action": [credential.pk]},
        )
    responses.get("https://api.webadmit.org/api/v1/user_identities", status=401)
    admin_client_logged_in.post(
        reverse("admin:dashboard_credential_changelist"),
        {"action": "test_connection", "_selected_action": [credential.pk]},
    )
    assert UserIdentity.objects.filter(webadmit_id=261149).exists()
    assert caplog.records, "expected the client and admin to log something at DEBUG"
    assert all(SECRET_KEY not in record.getMessage() for record in caplog.records)
    assert SECRET_KEY not in caplog.text


@pytest.mark.django_db
def test_rotation_reencrypts_under_the_newest_key(credential, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old_keys = list(settings.ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, *old_keys]
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.ENCRYPTION_KEYS = [new_key]
    credential.refresh_from_db()
    assert credential.get_api_key() == "5f2b8c0d9e1a4b7c8d2e3f4a5b6c7d8e"


@pytest.mark.django_db
def test_a_key_encrypted_under_a_removed_key_fails_clearly(credential, settings):
    from cryptography.fernet import Fernet

    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    credential.refresh_from_db()
    with pytest.raises(crypto.UndecryptableSecret, match="cannot be decrypted with any key in ENCRYPTION_KEYS"):
        credential.get_api_key()
