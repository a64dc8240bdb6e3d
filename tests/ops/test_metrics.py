"""/metrics: Prometheus text for the IT admin's scraper, and nobody else; counters that add up every process's.

The end-to-end test runs the production web server (gunicorn, 2 worker processes) and a real Celery worker, so the
counters it reads were written by three different processes: scrape, act (a refresh, a 429, a download), scrape,
compare.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from django.utils import timezone

from tests.support.factories import make_export, make_file
from tests.support.prometheus import Samples, parse, value
from tests.support.waiting import eventually
from tests.support.webserver import GunicornServer
from tests.support.worker import CeleryWorker, purge_queue
from webadmit_dash.api import tokens
from webadmit_dash.core.models import Credential, EngineHeartbeat, ExportFile, Kind, UserIdentity
from webadmit_dash.engine import credentials
from webadmit_dash.engine.tasks import run_refresh
from webadmit_dash.webadmit.statuses import FileStatus

METRICS_TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture
def allow(settings) -> Callable[..., None]:
    def configure(*, token: str = "", networks: tuple[str, ...] = ()) -> None:
        settings.METRICS_TOKEN = token
        settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network(network) for network in networks]

    return configure


@pytest.mark.django_db
class TestWhoMayScrape:
    def test_nobody_when_neither_a_token_nor_addresses_are_configured(self, client, allow):
        allow()
        response = client.get("/metrics")
        assert response.status_code == 403
        assert "METRICS_ALLOWED_IPS" in response.content.decode()

    def test_an_address_in_the_allow_list(self, client, allow):
        allow(networks=("10.0.0.0/8", "::1"))
        assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="192.168.1.10").status_code == 403
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403

    def test_the_token_from_any_address(self, client, allow):
        allow(token=METRICS_TOKEN)
        ok = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
        assert ok.status_code == 200
        assert ok["Content-Type"].startswith("text/plain; version=")
        for wrong in ("Bearer nope", f"Basic {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x", ""):
            assert client.get("/metrics", HTTP_AUTHORIZATION=wrong).status_code == 403


@pytest.mark.django_db
def test_the_state_comes_from_the_database_at_scrape_time(client, allow, identity, other_identity, credential):
    allow(networks=("127.0.0.1",))
    identity.last_success_at = timezone.now()
    identity.save()
    other_identity.paused = True
    other_identity.save()
    for status in (FileStatus.AVAILABLE, FileStatus.AVAILABLE, FileStatus.FAILED):
        make_file(identity, status)
    make_file(identity, FileStatus.QUEUED, gone=True)  # expired: not counted
    make_file(identity, FileStatus.AVAILABLE, export=make_export(identity, 7, "Transcripts", kind=Kind.PDF_BATCH))
    Credential.objects.filter(pk=credential.pk).update(rate_limit_remaining=4321)
    EngineHeartbeat.objects.create(name=EngineHeartbeat.DISPATCHER, beat_at=timezone.now())
    samples = parse(client.get("/metrics").content.decode())
    assert value(samples, "webadmit_dash_identities", state="ok") == 1
    assert value(samples, "webadmit_dash_identities", state="paused") == 1
    assert value(samples, "webadmit_dash_files", kind="export", status="available", state="done") == 2
    assert value(samples, "webadmit_dash_files", kind="export", status="failed", state="needs_attention") == 1
    assert value(samples, "webadmit_dash_files", kind="export", status="queued", state="needs_attention") == 0
    assert value(samples, "webadmit_dash_files", kind="pdf_batch", status="available", state="done") == 1
    assert value(samples, "webadmit_dash_rate_budget_remaining", credential="Nursing") == 4321
    assert value(samples, "webadmit_dash_rate_budget_limit", credential="Nursing") == 5000
    assert 0 <= value(samples, "webadmit_dash_beat_heartbeat_age_seconds") < 60
    assert ("webadmit_dash_queue_depth", (("queue", "celery"),)) in samples


@pytest.mark.worker
def test_counters_move_after_a_refresh_a_429_and_a_download_across_gunicorn_workers(
    transactional_db, sim_credential, world, simulator, admin_user
):
    credentials.import_identities(sim_credential)
    first, second = UserIdentity.objects.order_by("pk")[:2]
    upstream_file = world.files(first.webadmit_id)[0]
    world.force_status(upstream_file.id, "Available")
    token = tokens.create(admin_user, "metrics test").secret
    purge_queue()
    worker = CeleryWorker(name="metrics")
    with GunicornServer(workers=2, env={"METRICS_TOKEN": METRICS_TOKEN}) as server:
        worker.start()
        try:

            def scrape() -> Samples:
                response = server.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
                assert response.status_code == 200, response.text
                return parse(response.text)

            assert server.get("/metrics").status_code == 403
            assert server.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
            before = scrape()

            # A refresh; a download, through the web server (the API's, with the page's checks and audit); then a
            # refresh that WebAdMIT answers with 429 (after which downloads of that key wait out the limit at once).
            run_refresh.delay(identity_id=first.pk)
            eventually(
                lambda: ExportFile.objects.filter(webadmit_id=upstream_file.id).exists(), 40, "the first refresh"
            )
            export_file = ExportFile.objects.get(webadmit_id=upstream_file.id)
            download = server.get(
                f"/api/v1/files/{export_file.pk}/download",
                headers={"Authorization": f"Bearer {token}"},
                allow_redirects=False,
            )
            assert download.status_code == 302
            world.add_fault("rate_limited", identity_id=second.webadmit_id, endpoint="E6")
            run_refresh.delay(identity_id=second.pk)
            eventually(lambda: UserIdentity.objects.get(pk=second.pk).error_kind == "rate_limited", 40, "the 429")

            def moved() -> bool:
                after = scrape()
                return value(after, "webadmit_dash_refreshes_total", outcome="failed") > value(
                    before, "webadmit_dash_refreshes_total", outcome="failed"
                )

            eventually(moved, 40, "the worker's counters in a scrape")
            scrapes = [scrape() for _ in range(8)]  # answered by either gunicorn worker
        finally:
            worker.close()

    after = scrapes[-1]

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("webadmit_dash_refreshes_total", outcome="refreshed") == 1
    assert delta("webadmit_dash_refreshes_total", outcome="failed") == 1
    assert delta("webadmit_dash_refresh_duration_seconds_count") == 2
    assert delta("webadmit_dash_webadmit_calls_total", endpoint="E6", status="200") == 1
    assert delta("webadmit_dash_webadmit_calls_total", endpoint="E6", status="429") == 1
    assert delta("webadmit_dash_webadmit_calls_total", endpoint="E5", status="200") == 1
    assert delta("webadmit_dash_downloads_total", outcome="redirected") == 1
    assert value(after, "webadmit_dash_rate_budget_remaining", credential=sim_credential.name) == 0
    counters = [{key: v for key, v in s.items() if key[0].endswith(("_total", "_count"))} for s in scrapes]
    assert all(c == counters[0] for c in counters), "every gunicorn worker reports the same totals"
