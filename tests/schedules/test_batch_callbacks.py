"""A PDF Manager batch's callback: Run again on a batch, with WEBADMIT_CALLBACKS on, gives the batch a callback of
its own (a fresh token, audited like an export's run) when WebAdMIT will take it (https only); WebAdMIT's call, the
batch as JSON, is received at the same address as an export's, as a hint only: the body must name the token's
batch, its state is never stored, and a first call asks for one refresh. The simulator here takes http callbacks
(`http_batch_callbacks`), so that the last test can have it call a live server, which has no TLS."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import SIMULATOR_KEY
from tests.support.worker import purge_queue
from webadmit_dash.core.models import ExportFile, Kind, RunRequest, UserIdentity
from webadmit_dash.engine import on_demand, run_callbacks
from webadmit_dash.engine.refresh import refresh_identity
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer

from .conftest import CLOCK, call_back, callback_words, the_call_arrived

pytestmark = pytest.mark.django_db

# The SPEC's example of the call ("PDF Manager"), word for word, as the client's tests keep it.
RECORDED = Path(__file__).parents[1] / "webadmit" / "payloads" / "pdf_batch_callback.json"
# WebAdMIT's own numbers in it: the batch, its template and the identity (its zip's id is left as it is).
RECORDED_BATCH, RECORDED_TEMPLATE, RECORDED_IDENTITY = 6348, 8153, 280464


@pytest.fixture
def simulator(world: SimulatedWorld) -> Iterator[SimulatorServer]:
    """The simulator over HTTP, taking http:// batch callbacks (`--http-batch-callbacks`) as a demo's does."""
    with SimulatorServer(world, api_keys=[SIMULATOR_KEY], http_batch_callbacks=True) as server:
        yield server


@pytest.fixture(autouse=True)
def said_anew() -> None:
    """Each test sees the once-per-process log line about http SITE_URLs as a new process would."""
    run_callbacks._say_why_batches_have_none.cache_clear()


@pytest.fixture
def batch_callbacks_on(callbacks_on: None, settings) -> None:
    # https, as WebAdMIT asks; nothing listens there (see callbacks_on).
    settings.SITE_URL = "https://127.0.0.1:9"


@pytest.fixture
def batch(sim_identity: UserIdentity) -> ExportFile:
    """A finished batch as a refresh stored it, whose Run again starts a new batch of its template."""
    UserIdentity.objects.filter(pk=sim_identity.pk).update(watch_pdf_batches=True)
    refresh_identity(sim_identity.pk)
    batches = ExportFile.objects.filter(identity=sim_identity, kind=Kind.PDF_BATCH, export__isnull=False)
    finished = next(each for each in batches.order_by("webadmit_id") if each.status_enum.is_finished)
    return finished


def start_batch(batch: ExportFile, user=None) -> RunRequest:
    started = on_demand.start_run(batch, user)
    return RunRequest.objects.select_related("run").get(pk=started.request_pk)


@pytest.fixture
def started(batch_callbacks_on: None, batch: ExportFile, admin_user) -> RunRequest:
    run_request = start_batch(batch, admin_user)
    assert run_request.callback_token, "a batch started with WEBADMIT_CALLBACKS on was given a token"
    return run_request


def recorded_call(run_request: RunRequest, **changes: object) -> bytes:
    """The SPEC's recorded call with its ids made the run's; `changes` then replace fields of the batch."""
    ids = {
        RECORDED_BATCH: run_request.run_webadmit_id,
        RECORDED_TEMPLATE: run_request.export_webadmit_id,
        RECORDED_IDENTITY: UserIdentity.objects.get(pk=run_request.identity_id).webadmit_id,
    }
    body = re.sub(r"\b\d+\b", lambda number: str(ids.get(int(number[0]), number[0])), RECORDED.read_text().strip())
    if not changes:
        return body.encode()
    payload = json.loads(body)
    payload["pdf_manager_batch"].update(changes)
    return json.dumps(payload).encode()


def post_batch(client: Client, run_request: RunRequest, body: bytes, **extra):
    url = f"/webadmit/callback/{run_request.callback_token}/"
    return client.post(url, body, content_type=extra.pop("content_type", "application/json"), **extra)


# --- Started with one -------------------------------------------------------------------------------------------


def test_a_batch_started_here_is_given_a_callback_of_its_own(batch_callbacks_on, batch, admin_user, sim, settings):
    first, second = start_batch(batch, admin_user), start_batch(batch, admin_user)

    assert first.run.kind == Kind.PDF_BATCH and first.requested_from_id == batch.pk
    assert first.callback_token and second.callback_token and first.callback_token != second.callback_token
    assert sim.server.app.callbacks.summary()["pending"] == 2, "WebAdMIT was given both addresses"

    settings.WEBADMIT_CALLBACKS = False
    assert start_batch(batch, admin_user).callback_token is None
    assert sim.server.app.callbacks.summary()["pending"] == 2, "none asked for while callbacks are off"


def test_an_http_site_url_starts_batches_without_one_and_says_why_once(callbacks_on, batch, sim, caplog):
    """WebAdMIT would refuse an http:// batch callback with a 422 (the simulator here would take it, so it is the
    dashboard that holds it back): the batch starts without one, followed at the fast cadence."""
    with caplog.at_level(logging.INFO, logger="webadmit_dash.engine.run_callbacks"):
        runs = [start_batch(batch), start_batch(batch)]

    assert [run.callback_token for run in runs] == [None, None]
    assert all(run.run is not None and run.message == "" for run in runs), "both started"
    assert sim.server.app.callbacks.summary()["pending"] == 0
    said = [record.getMessage() for record in caplog.records if record.name == "webadmit_dash.engine.run_callbacks"]
    assert len(said) == 1 and "SITE_URL is not https://" in said[0]
    assert "127.0.0.1" not in said[0], "the address itself is not logged"
    assert UserIdentity.objects.get(pk=batch.identity_id).run_started_at is not None


# --- WebAdMIT's call --------------------------------------------------------------------------------------------


def test_the_recorded_call_is_accepted_and_asks_for_one_refresh(client, started, django_capture_on_commit_callbacks):
    UserIdentity.objects.filter(pk=started.identity_id).update(refresh_queued_at=None)
    body = recorded_call(started)
    assert json.loads(body)["pdf_manager_batch"]["id"] == started.run_webadmit_id

    with django_capture_on_commit_callbacks() as sent:
        response = post_batch(client, started, body)
        again = post_batch(client, started, body)

    assert (response.status_code, response.content, again.status_code) == (204, b"", 204)
    assert len(sent) == 1, "one refresh, at the first call"
    assert UserIdentity.objects.get(pk=started.identity_id).refresh_queued_at is not None
    assert RunRequest.objects.get(pk=started.pk).callback_received_at is not None


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("another batch", lambda run: recorded_call(run, id=run.run_webadmit_id + 1)),
        ("another template", lambda run: recorded_call(run, pdf_manager_template={"id": run.export_webadmit_id + 1})),
        ("a batch id as text", lambda run: recorded_call(run, id=str(run.run_webadmit_id))),
        ("no state", lambda run: recorded_call(run, state=None)),
        ("no id", lambda run: recorded_call(run, id=None)),
        ("not JSON", lambda run: recorded_call(run)[:-2]),
        ("a JSON list", lambda run: b"[" + recorded_call(run) + b"]"),
        ("nested thousands deep", lambda run: b'{"pdf_manager_batch": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
        ("not UTF-8", lambda run: b"\xff\xfe\xfd"),
        ("empty", lambda run: b""),
        ("too large", lambda run: recorded_call(run, padding="x" * 70_000)),
        ("an export's fields", lambda run: f"export_file[id]={run.run_webadmit_id}".encode()),
    ],
)
def test_a_body_that_is_not_this_batch_is_refused(client, started, django_capture_on_commit_callbacks, name, body):
    with django_capture_on_commit_callbacks() as sent:
        response = post_batch(client, started, body(started))
    assert (response.status_code, response.content) == (400, b""), name
    assert sent == []
    assert RunRequest.objects.get(pk=started.pk).callback_received_at is None


def test_the_form_of_an_exports_call_is_refused_for_a_batch(client, started):
    """E4's form, with the batch's and template's ids: a batch's token expects the batch."""
    assert call_back(client, started).status_code == 400


def test_whatever_it_is_labelled_the_body_is_read_as_the_batch(client, started):
    """The SPEC does not record WebAdMIT's Content-Type: the body decides."""
    assert post_batch(client, started, recorded_call(started), content_type="text/plain").status_code == 204


def test_the_state_is_never_taken_from_the_call(client, started, sim):
    sim.force_batch(started.run_webadmit_id, "in_progress")
    before = ExportFile.objects.get(pk=started.run_id)

    assert post_batch(client, started, recorded_call(started, state="available")).status_code == 204
    after = ExportFile.objects.get(pk=started.run_id)
    assert (after.status, after.raw_status) == (before.status, before.raw_status), "the call changed nothing itself"

    refresh_identity(started.identity_id)  # the refresh the call asked for, as the worker runs it
    assert ExportFile.objects.get(pk=started.run_id).status == "in_progress", "WebAdMIT's state, not the call's"


def test_unknown_tokens_other_methods_and_storms_are_answered_as_for_exports(client, started, settings):
    settings.WEBADMIT_CALLBACKS_PER_MINUTE = 2
    body = recorded_call(started)
    assert client.get(f"/webadmit/callback/{started.callback_token}/").status_code == 405
    answers = [client.post("/webadmit/callback/" + "x" * 43 + "/", body, content_type="application/json").status_code]
    answers += [post_batch(client, started, body).status_code for _ in range(2)]
    assert answers == [404, 204, 429]


# --- On the pages, and over HTTP --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_simulator_calls_back_a_batch_started_here(live_server, settings, callbacks_on, batch, admin_user, sim):
    """Run again on a batch with WEBADMIT_CALLBACKS on, SITE_URL a live server over http (allowed by
    WEBADMIT_HTTP_BATCH_CALLBACKS, as this simulator is): the batch becomes available in WebAdMIT, the simulator
    posts it as JSON, the endpoint stamps the call and queues a refresh, which reads the batch's state. Its row says
    so, as an export's does."""
    settings.SITE_URL = live_server.url
    settings.WEBADMIT_HTTP_BATCH_CALLBACKS = True
    run_request = start_batch(batch, admin_user)
    assert run_request.callback_token
    UserIdentity.objects.filter(pk=batch.identity_id).update(refresh_queued_at=None)
    client = Client()
    client.force_login(admin_user)
    pdf_rows = {"kind": "pdf_batch"}
    assert callback_words(client.get("/", pdf_rows).content.decode(), run_request.run_id) == "WebAdMIT will call back"
    try:
        sim.force_batch(run_request.run_webadmit_id, "available")
        made = the_call_arrived(run_request, sim)
        url = f"{live_server.url}/webadmit/callback/{run_request.callback_token}/"
        assert made == [{"url": url, "batch_id": run_request.run_webadmit_id, "state": "available", "outcome": "204"}]
        refresh_identity(batch.identity_id)
        assert ExportFile.objects.get(pk=run_request.run_id).status == "available"
        words = callback_words(client.get("/", pdf_rows).content.decode(), run_request.run_id)
        assert re.fullmatch(f"WebAdMIT called back {CLOCK}", words)
        page = client.get(f"/files/{run_request.run_id}/").content.decode()
        assert re.search(rf'<dd id="callback">WebAdMIT called back <time [^>]+>{CLOCK}</time></dd>', page)
    finally:
        purge_queue()
