"""Production without EMAIL_HOST writes notifications to files nobody reads: it says so loudly, at every start of a
web server and worker process, in `manage.py check`, and in /readyz, without refusing to serve (issue 19, point 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.waiting import eventually
from tests.support.webserver import GunicornServer
from tests.support.worker import CeleryWorker
from webadmit_dash.ops import health

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WARNING = "EMAIL_HOST is not set: notification e-mails are written to files in"


def production(**overrides: str) -> dict[str, str]:
    return {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "p" * 60,
        "ENCRYPTION_KEYS": settings.ENCRYPTION_KEYS[0],
        "ALLOWED_HOSTS": "localhost",
        "EMAIL_HOST": "",
        **overrides,
    }


def manage_check(env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "DATABASE", "CELERY"))}
    base.update({"DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "webadmit_dash.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=PROJECT_ROOT, env=base, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_manage_py_check_warns_in_production_without_a_mail_server(tmp_path):
    without = manage_check(production(), tmp_path)
    assert without.returncode == 0, without.stderr
    assert f"(webadmit_dash.W001) {WARNING} {tmp_path / 'mail'}/" in without.stderr
    with_mail = manage_check(production(EMAIL_HOST="smtp.example.edu"), tmp_path)
    assert "W001" not in with_mail.stdout + with_mail.stderr


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_web_server_process_logs_the_warning_when_it_starts():
    with GunicornServer(workers=2, env=production()) as web:
        # Each worker process logs it once its application is loaded, which may be just after it first answers.
        eventually(lambda: web.log().count(WARNING) == 2, 30, "both web processes to warn")
    with GunicornServer(workers=1, env=production(EMAIL_HOST="smtp.example.edu")) as web:
        assert WARNING not in web.log()  # its one process answered /healthz: its application is loaded


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_logs_the_warning_when_it_starts():
    worker = CeleryWorker(concurrency=1, env=production())
    try:
        worker.start()
        worker.wait_for_log(WARNING)
    finally:
        worker.stop()
        worker.close()


@pytest.mark.django_db
def test_readyz_lists_the_warning_without_failing_for_it(client, settings, tmp_path):
    settings.PRODUCTION = True
    settings.EMAIL_HOST = ""
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    body = client.get("/readyz").json()
    [warning] = body["warnings"]
    assert warning.startswith(f"{WARNING} {tmp_path / 'mail'}/ instead of being sent; set EMAIL_HOST")
    assert "mail" not in body["failing"]
    settings.EMAIL_HOST = "smtp.example.edu"
    assert health.readiness().warnings == []
