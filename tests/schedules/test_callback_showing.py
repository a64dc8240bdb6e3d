"""Showing the callback: "WebAdMIT will call back" on a run started here with one, "WebAdMIT called back 10:42:05"
once it came, on the file page and the Recent Files row; and the simulator calling the endpoint over HTTP."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.factories import make_file
from tests.support.worker import purge_queue
from webadmit_dash.core.models import ExportFile, RunRequest, UserIdentity
from webadmit_dash.engine.refresh import refresh_identity
from webadmit_dash.web import time_signature
from webadmit_dash.webadmit.statuses import FileStatus

from .conftest import CLOCK, call_back, callback_words, start_here, the_call_arrived

pytestmark = pytest.mark.django_db


def test_the_row_and_the_file_page_say_webadmit_will_call_back_then_when_it_did(client, admin_user, started):
    client.force_login(admin_user)
    assert callback_words(client.get("/").content.decode(), started.run_id) == "WebAdMIT will call back"
    page = client.get(f"/files/{started.run_id}/").content.decode()
    assert re.search(r'<dd id="callback">WebAdMIT will call back</dd>', page)

    call_back(client, started)

    assert re.fullmatch(
        f"WebAdMIT called back {CLOCK}", callback_words(client.get("/").content.decode(), started.run_id)
    )
    page = client.get(f"/files/{started.run_id}/").content.decode()
    assert re.search(rf'<dd id="callback">WebAdMIT called back <time [^>]+>{CLOCK}</time></dd>', page)


def test_the_call_makes_open_pages_re_render_the_row(client, started):
    before = ExportFile.objects.get(pk=started.run_id).change_seq
    call_back(client, started)
    after = ExportFile.objects.get(pk=started.run_id)
    assert after.change_seq > before
    assert UserIdentity.objects.get(pk=started.identity_id).change_seq == after.change_seq


def test_a_run_that_finished_without_a_call_says_so_on_its_page_only(client, admin_user, started, sim):
    sim.force(started.run_webadmit_id, "Available")
    refresh_identity(started.identity_id)
    client.force_login(admin_user)
    assert callback_words(client.get("/").content.decode(), started.run_id) == ""
    page = client.get(f"/files/{started.run_id}/").content.decode()
    assert "WebAdMIT was asked to call back when the run was ready; no call came" in page


def test_runs_not_started_here_say_nothing_of_callbacks(client, admin_user, identity, callbacks_on):
    export_file = make_file(identity, FileStatus.QUEUED)
    client.force_login(admin_user)
    assert 'class="file__callback"' not in client.get("/").content.decode()
    assert 'id="callback"' not in client.get(f"/files/{export_file.pk}/").content.decode()


def test_the_first_page_costs_the_same_queries_for_few_or_many_runs_started_here(
    client, admin_user, started, sim_identity, identity
):
    client.force_login(admin_user)
    client.get("/")

    def first_page_queries() -> int:
        cache.clear()  # the worst case: no summary counts cached
        # ...but the time signature, which a process reads once per period whatever the pages (web/time_signature.py)
        time_signature.current(timezone.now())
        with CaptureQueriesContext(connection) as queries:
            client.get("/")
        return len(queries)

    few = first_page_queries()
    for _ in range(30):
        make_file(identity, FileStatus.AVAILABLE)
    for export_file in ExportFile.objects.filter(identity=identity):
        RunRequest.objects.create(
            identity=identity,
            export_webadmit_id=export_file.export_webadmit_id,
            run=export_file,
            run_webadmit_id=export_file.webadmit_id,
            callback_token=f"t{export_file.pk:042d}",
            callback_received_at=timezone.now() if export_file.pk % 2 else None,
        )
    # The page's 7, the watchdog's open misses (schedules/state.py), the rows' two notes (web/row_notes.py) and one
    # for the callbacks, whatever the rows (a page load inside a visit touches nothing: web/visits.py).
    assert first_page_queries() == few <= 11, "one query for the page's callbacks, whatever the rows"


@pytest.mark.django_db(transaction=True)
def test_the_simulator_calls_the_endpoint_when_a_run_started_here_is_ready(live_server, settings, callbacks_on, sim):
    """Run again with WEBADMIT_CALLBACKS on, SITE_URL at a live server: the run reaches Available in WebAdMIT, the
    simulator calls back over HTTP, the endpoint stamps the call and queues a refresh, which reads Available."""
    settings.SITE_URL = live_server.url
    from django.contrib.auth.models import User

    from webadmit_dash.core.models import Credential

    credential = Credential(name="Simulated", base_url=sim.base_url)
    from tests.conftest import SIMULATOR_KEY

    credential.set_api_key(SIMULATOR_KEY)
    credential.save()
    upstream = sim.world.identities()[0]
    identity = UserIdentity.objects.create(credential=credential, webadmit_id=upstream.id, type="Admissions User")
    user = User.objects.create_superuser("casey", "casey@example.edu", "x")
    run_request = start_here(identity, user)
    assert run_request.callback_token
    UserIdentity.objects.filter(pk=identity.pk).update(refresh_queued_at=None)
    try:
        sim.force(run_request.run_webadmit_id, "Available")
        made = the_call_arrived(run_request, sim)
        assert [(call["file_id"], call["outcome"]) for call in made] == [(run_request.run_webadmit_id, "204")]
        refresh_identity(identity.pk)
        assert ExportFile.objects.get(pk=run_request.run_id).status == "available"
    finally:
        purge_queue()
