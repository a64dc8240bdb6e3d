"""Download and Run again cannot hold the web server: short timeouts of their own, a few at once per process, and a
circuit per credential (kept in its row, so every web process sees it) that answers at once while WebAdMIT is known
not to answer, then lets one call try again."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.support.factories import make_export, make_file
from webadmit_dash.core.models import Credential, DownloadEvent, ExportFile
from webadmit_dash.engine import credentials, downloads
from webadmit_dash.simulator.server import SimulatorServer
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db
Outcome = DownloadEvent.Outcome
HTMX = {"HTTP_HX_REQUEST": "true"}
HANG = 10  # seconds a hanging WebAdMIT holds a call (far beyond the interactive timeouts)
SLOW = 3  # seconds a slow WebAdMIT takes to answer


@pytest.fixture
def sim_file(sim_identity, world) -> ExportFile:
    state = world.files(sim_identity.webadmit_id)[0]
    world.force_status(state.id, "Available")
    export = world.export(state.export_id)
    return make_file(
        sim_identity,
        FileStatus.AVAILABLE,
        webadmit_id=state.id,
        export=make_export(sim_identity, export.id, export.name),
    )


def timed_get(client, url: str):
    started = time.monotonic()
    response = client.get(url)
    return response, time.monotonic() - started


def calls_to_e5(simulator: SimulatorServer) -> int:
    """Download URLs WebAdMIT was asked for: the question a click that answers at once must not ask."""
    return sum(count for (endpoint, _), count in simulator.app.calls.items() if endpoint == "E5")


def credential_of(export_file: ExportFile) -> Credential:
    return Credential.objects.get(pk=export_file.identity.credential_id)


def test_interactive_calls_have_short_timeouts_of_their_own(sim_credential):
    assert credentials.client_for(sim_credential, interactive=True).timeout == (3.0, 8.0)
    assert credentials.client_for(sim_credential).timeout == (5.0, 20.0)


def test_a_download_webadmit_does_not_answer_opens_the_circuit_and_the_next_clicks_answer_at_once(
    client, admin_user, sim_file, world, simulator, settings
):
    settings.WEBADMIT_INTERACTIVE_READ_TIMEOUT = 1
    world.add_fault("timeout", endpoint="E5", seconds=HANG)  # E5 hangs
    client.force_login(admin_user)
    url = f"/files/{sim_file.pk}/download/"

    first, waited = timed_get(client, url)

    assert first.status_code == 503 and "WebAdMIT is not answering" in first.content.decode()
    assert 1 <= waited < HANG / 2, "bounded by the interactive read timeout, not the hang"
    timed_out_after, asked = waited, calls_to_e5(simulator)
    opened_until = credential_of(sim_file).circuit_open_until
    assert opened_until is not None
    assert 25 <= (opened_until - timezone.now()).total_seconds() <= 30
    for _ in range(3):
        again, waited = timed_get(client, url)
        assert again.status_code == 503 and "WebAdMIT is not answering" in again.content.decode()
        # Ratios and counts, not seconds: the machine running this may be busy.
        assert waited < timed_out_after / 2, "answered at once, without waiting for WebAdMIT"
        assert calls_to_e5(simulator) == asked, "without asking WebAdMIT"
    assert list(DownloadEvent.objects.values_list("outcome", flat=True)) == [Outcome.UNAVAILABLE] * 4


def test_after_the_pause_one_call_tries_again_and_an_answer_closes_the_circuit(client, admin_user, sim_file):
    Credential.objects.filter(pk=sim_file.identity.credential_id).update(
        health=Credential.Health.UNREACHABLE, circuit_open_until=timezone.now() - timedelta(seconds=1)
    )
    client.force_login(admin_user)

    response = client.get(f"/files/{sim_file.pk}/download/")

    assert response.status_code == 302
    credential = credential_of(sim_file)
    assert (credential.circuit_open_until, credential.health) == (None, Credential.Health.OK)


def test_a_trial_that_fails_opens_the_circuit_again(client, admin_user, sim_file, world):
    Credential.objects.filter(pk=sim_file.identity.credential_id).update(
        health=Credential.Health.UNREACHABLE, circuit_open_until=timezone.now() - timedelta(seconds=1)
    )
    world.add_fault("unavailable", endpoint="E5")
    client.force_login(admin_user)

    assert client.get(f"/files/{sim_file.pk}/download/").status_code == 503

    assert credential_of(sim_file).circuit_open_until > timezone.now() + timedelta(seconds=25)


def test_only_one_web_process_gets_the_half_open_trial(sim_credential):
    past = timezone.now() - timedelta(seconds=1)
    Credential.objects.filter(pk=sim_credential.pk).update(circuit_open_until=past)
    # Two web processes, each with the row as it read it.
    seen_by = [Credential.objects.get(pk=sim_credential.pk) for _ in range(2)]
    now = timezone.now()

    trials = [credentials.claim_circuit_trial(credential, now, now + timedelta(seconds=12)) for credential in seen_by]

    assert trials == [True, False]


def test_a_rejected_key_answers_downloads_at_once(client, admin_user, sim_file, world):
    Credential.objects.filter(pk=sim_file.identity.credential_id).update(health=Credential.Health.KEY_REJECTED)
    world.add_fault("slow", endpoint="E5", seconds=SLOW)  # a call would take 3 s
    client.force_login(admin_user)

    response, waited = timed_get(client, f"/files/{sim_file.pk}/download/")

    assert response.status_code == 502 and "WebAdMIT rejected the API key" in response.content.decode()
    assert waited < SLOW / 3, "a fraction of one call to WebAdMIT"


def test_run_again_while_webadmit_is_known_not_to_answer_says_so_at_once(client, admin_user, sim_identity, world):
    state = world.files(sim_identity.webadmit_id)[0]
    export = world.export(state.export_id)
    failed = make_file(
        sim_identity, FileStatus.FAILED, webadmit_id=state.id, export=make_export(sim_identity, export.id, export.name)
    )
    Credential.objects.filter(pk=sim_identity.credential_id).update(
        health=Credential.Health.UNREACHABLE, circuit_open_until=timezone.now() + timedelta(seconds=30)
    )
    world.add_fault("slow", seconds=SLOW)
    client.force_login(admin_user)
    started = time.monotonic()

    html = client.post(f"/files/{failed.pk}/run-again/", **HTMX).content.decode()

    assert time.monotonic() - started < SLOW / 3, "a fraction of one call to WebAdMIT"
    assert f"Could not start {export.name}: WebAdMIT did not answer for credential" in html
    assert "Try again in a minute." in html


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_clicks_while_webadmit_hangs_holds_at_most_two_threads_of_a_process(sim_file, admin_user, world):
    world.add_fault("timeout", endpoint="E5", seconds=HANG)
    results: list[tuple[str, float, str]] = []
    lock = threading.Lock()

    def click() -> None:
        try:
            export_file = ExportFile.objects.select_related("identity__credential").get(pk=sim_file.pk)
            started = time.monotonic()
            attempt = downloads.prepare_download(export_file, admin_user)
            with lock:
                results.append((attempt.outcome, time.monotonic() - started, attempt.title))
        finally:
            connection.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.conf.settings.WEBADMIT_INTERACTIVE_READ_TIMEOUT", 2)
        clicks = [threading.Thread(target=click) for _ in range(6)]
        for thread in clicks:
            thread.start()
        for thread in clicks:
            thread.join(timeout=30)

    assert {outcome for outcome, _, _ in results} == {Outcome.UNAVAILABLE}
    held = sorted((seconds, title) for _, seconds, title in results)
    assert len(held) == 6
    assert all(title == "WebAdMIT is busy" for _, title in held[:4]), f"four at once: {held}"
    assert all(seconds >= 2 and title == "WebAdMIT is not answering" for seconds, title in held[4:]), held
    # A ratio, not seconds: the four answered in less than half the time the two held threads waited for WebAdMIT.
    assert held[3][0] < held[4][0] / 2, f"four at once: {held}"
