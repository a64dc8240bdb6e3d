"""/healthz and /readyz: a probe learns whether the process lives, and whether each thing it needs answers.

Each failure is produced for real: a database nobody listens at, a broker whose folder is gone or whose Redis
was stopped, a beat that stopped beating. On SQLite with the filesystem broker (make test) and on PostgreSQL with
Redis (CI's second run), as the suite is configured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.utils import timezone

from tests.support.services import own_redis
from tests.support.waiting import eventually, free_port
from tests.support.webserver import GunicornServer
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.core.models import EngineHeartbeat
from webadmit_dash.ops import health
from webadmit_dash.ops.health import BROKER_TIMEOUT, PING_TIMEOUT

pytestmark = pytest.mark.worker


@pytest.fixture(autouse=True)
def fresh_answers() -> Iterator[None]:
    health.forget_remembered()
    yield
    health.forget_remembered()


def readyz(client) -> tuple[int, dict]:
    health.forget_remembered()
    response = client.get("/readyz")
    return response.status_code, response.json()


def wait_for(probe: Callable[[], tuple[int, dict]], status: int, timeout: float = 40.0) -> dict:
    answers: list[tuple[int, dict]] = []

    def answered_with_status() -> dict | None:
        answers.append(probe())
        code, body = answers[-1]
        return body if code == status else None

    return eventually(answered_with_status, timeout, f"status {status}", every=0.3, detail=lambda: str(answers[-1]))


def test_healthz_answers_without_the_database_or_a_known_host(client):
    # No database fixture: pytest-django fails any query this makes.
    response = client.get("/healthz", HTTP_HOST="10.0.3.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert "no-cache" in response["Cache-Control"]


def test_the_probes_refuse_other_methods(client):
    assert client.post("/readyz").status_code == 405
    assert client.post("/healthz").status_code == 405


@pytest.fixture
def heartbeat_worker(transactional_db: None) -> Iterator[CeleryWorker]:
    """A worker with embedded beat dispatching every second, as `make run` starts it (at test speed)."""
    purge_queue()
    worker = CeleryWorker(beat=True, env={"WEBADMIT_DISPATCH_EVERY": "1"}, name="readyz")
    try:
        yield worker.start()
    finally:
        worker.close()


@pytest.fixture
def plain_worker(transactional_db: None) -> Iterator[CeleryWorker]:
    """A worker without beat: it answers pings, and no heartbeat comes."""
    purge_queue()
    worker = CeleryWorker(name="readyz-plain")
    try:
        yield worker.start()
    finally:
        worker.close()


def test_readyz_is_200_and_names_every_check_when_all_is_well(client, heartbeat_worker):
    body = wait_for(lambda: readyz(client), 200)
    assert body["status"] == "ready" and body["failing"] == []
    assert set(body["checks"]) == {"database", "migrations", "broker", "workers", "beat"}
    assert all(check["ok"] is True for check in body["checks"].values())


def test_readyz_is_503_naming_beat_when_the_heartbeat_is_late(client, plain_worker):
    late = timezone.now() - timedelta(seconds=settings.BEAT_LATE_AFTER + 30)
    EngineHeartbeat.objects.create(name=EngineHeartbeat.DISPATCHER, beat_at=late)
    code, body = readyz(client)
    assert code == 503
    assert body["failing"] == ["beat"]
    assert "s ago" in body["checks"]["beat"]["detail"]
    EngineHeartbeat.objects.update(beat_at=timezone.now())
    assert readyz(client)[0] == 200


def test_readyz_is_503_naming_beat_before_the_first_heartbeat(client, plain_worker):
    code, body = readyz(client)
    assert (code, body["failing"]) == (503, ["beat"])


def test_readyz_is_503_naming_workers_when_none_answers(client, transactional_db):
    purge_queue()
    EngineHeartbeat.objects.create(name=EngineHeartbeat.DISPATCHER, beat_at=timezone.now())
    code, body = readyz(client)
    assert (code, body["failing"]) == (503, ["workers"])


def test_readyz_is_503_naming_the_broker_when_it_stops(client, transactional_db, settings):
    EngineHeartbeat.objects.create(name=EngineHeartbeat.DISPATCHER, beat_at=timezone.now())
    if settings.CELERY_BROKER_URL.startswith("redis"):
        # With Redis: a Redis of our own, with a worker on it, which is then stopped.
        with own_redis() as redis:
            settings.CELERY_BROKER_URL = redis.url
            worker = CeleryWorker(env={"CELERY_BROKER_URL": redis.url}, name="readyz-redis")
            try:
                worker.start()
                wait_for(lambda: readyz(client), 200)
                redis.stop()
                started = time.monotonic()
                code, body = readyz(client)
                # A few of readyz's own broker timeouts, not the minutes Celery's own connection retries for.
                assert time.monotonic() - started < 5 * BROKER_TIMEOUT, "a stopped broker is reported within seconds"
            finally:
                worker.kill()
                worker.close()
    else:
        # The embedded broker is a folder: gone (a wiped volume, a wrong DATA_DIR), nothing is delivered.
        queue = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        purge_queue()
        worker = CeleryWorker(name="readyz-fs")
        try:
            worker.start()
            wait_for(lambda: readyz(client), 200)
            moved = queue.with_name("queue-moved-away")
            queue.rename(moved)
            try:
                code, body = readyz(client)
            finally:
                moved.rename(queue)
        finally:
            worker.close()
    assert code == 503
    assert body["failing"] == ["broker"]
    assert body["checks"]["workers"]["ok"] is None, "the workers cannot be asked without a broker"
    assert "redis://" not in str(body) and str(settings.DATA_DIR) not in str(body)


def _unreachable_database_url() -> str:
    if connection.vendor == "postgresql":
        return f"postgres://postgres:secret-password@127.0.0.1:{free_port()}/nothing"  # nobody listens there
    return "sqlite:////nonexistent-folder/db.sqlite3"


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(transactional_db):
    EngineHeartbeat.objects.create(name=EngineHeartbeat.DISPATCHER, beat_at=timezone.now())
    purge_queue()
    worker = CeleryWorker(name="readyz-db")
    try:
        worker.start()
        bad_url = _unreachable_database_url()
        with GunicornServer(workers=1, env={"DATABASE_URL": bad_url}) as server:
            started = time.monotonic()
            response = server.get("/readyz")
            elapsed = time.monotonic() - started
            assert server.get("/healthz").status_code == 200, "liveness does not depend on the database"
    finally:
        worker.close()
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert body["checks"]["migrations"]["ok"] is None and body["checks"]["beat"]["ok"] is None
    assert body["checks"]["workers"]["ok"] is True
    assert "secret-password" not in response.text and "nonexistent-folder" not in response.text
    assert elapsed < 5 * (BROKER_TIMEOUT + PING_TIMEOUT), "a few of readyz's own timeouts"


def test_readyz_is_503_naming_migrations_on_a_database_never_migrated(tmp_path, transactional_db):
    with GunicornServer(workers=1, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}) as server:
        body = wait_for(lambda: (lambda r: (r.status_code, r.json()))(server.get("/readyz")), 503)
    assert "migrations" in body["failing"]
    assert "manage.py migrate" in body["checks"]["migrations"]["detail"]
    assert body["checks"]["beat"]["ok"] is None


def test_the_beat_health_command_fails_when_the_heartbeat_is_late(db, capsys):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no heartbeat yet"):
        call_command("check_heartbeat")
    EngineHeartbeat.objects.create(name=EngineHeartbeat.DISPATCHER, beat_at=timezone.now())
    call_command("check_heartbeat")
    assert "last heartbeat" in capsys.readouterr().out


def test_readyz_through_gunicorn_skips_host_checks_and_the_https_redirect(transactional_db):
    with GunicornServer(workers=1) as server:
        response = requests.get(f"{server.url}/readyz", headers={"Host": "10.0.3.7:8000"}, timeout=20)
    assert response.status_code in (200, 503)
    assert "checks" in response.json()
