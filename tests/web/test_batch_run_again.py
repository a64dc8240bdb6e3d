"""Run again on a PDF Manager batch starts a new batch of its template (P3, the simulator over HTTP), asked in the
same dialog as an export's run, audited with a RunRequest, and listed at once like a run started here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from tests.support.simulated import SimulatorControl
from webadmit_dash.core.models import ExportFile, Kind, RunRequest, UserIdentity
from webadmit_dash.engine import on_demand
from webadmit_dash.engine.refresh import refresh_identity

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(simulator) -> SimulatorControl:
    return SimulatorControl(simulator)


@pytest.fixture
def batch(sim_identity: UserIdentity, sim: SimulatorControl) -> ExportFile:
    """A finished batch as a refresh stored it (with its template named)."""
    UserIdentity.objects.filter(pk=sim_identity.pk).update(watch_pdf_batches=True)
    refresh_identity(sim_identity.pk, now=timezone.now())
    batches = ExportFile.objects.filter(identity=sim_identity, kind=Kind.PDF_BATCH, export__isnull=False)
    finished = [each for each in batches.select_related("export") if each.status_enum.is_finished]
    assert finished, "the simulator's world has finished batches"
    return finished[0]


def test_run_again_on_a_batch_starts_a_new_batch_of_its_template_and_lists_it_at_once(client, admin_user, batch, sim):
    client.force_login(admin_user)
    p3_before = sim.calls(batch.identity.webadmit_id).get("P3", 0)
    answer = client.post(reverse("run_again", args=[batch.pk]), {"next": "/"})
    assert answer.status_code == 302

    assert sim.calls(batch.identity.webadmit_id)["P3"] == p3_before + 1
    audit = RunRequest.objects.get()
    assert (audit.user, audit.requested_from, audit.export_webadmit_id) == (admin_user, batch, batch.export_webadmit_id)
    new = audit.run
    assert new is not None and new.kind == Kind.PDF_BATCH and new.export_id == batch.export_id
    assert new.webadmit_id == audit.run_webadmit_id and not new.status_enum.is_finished
    assert audit.callback_token is None, "callbacks are off (WEBADMIT_CALLBACKS): no callback asked for"
    words = [str(message) for message in get_messages(answer.wsgi_request)]
    assert words == [f"WebAdMIT is making a new batch of {batch.title} as batch {new.webadmit_id} (Initializing)."]

    listed = client.get(reverse("recent_files"), {"kind": "pdf_batch"})
    assert listed.context["files"][0].pk == new.pk, "the new batch needs attention (running): first"
    identity = UserIdentity.objects.get(pk=batch.identity_id)
    assert identity.run_started_at is not None
    assert identity.next_refresh_at <= timezone.now() + timedelta(minutes=1), "followed at the fast cadence"


def test_the_next_refresh_carries_on_with_the_started_batch(batch, sim, admin_user):
    started = on_demand.start_run(batch, admin_user)
    sim.force_batch(started.run.id, "available")
    refresh_identity(batch.identity_id, now=timezone.now() + timedelta(seconds=30))
    row = ExportFile.objects.get(pk=started.file_pk)
    assert row.status == "available"
    assert (
        ExportFile.objects.filter(identity=batch.identity, kind=Kind.PDF_BATCH, webadmit_id=row.webadmit_id).count()
        == 1
    )


def test_the_question_names_a_new_batch_of_the_template(client, admin_user, batch):
    client.force_login(admin_user)
    page = client.get(reverse("run_again", args=[batch.pk])).content.decode()
    assert "make a new batch of this template" in page and "Start a new batch" in page
    recent = client.get(reverse("recent_files"), {"kind": "pdf_batch"}).content.decode()
    assert 'data-kind="pdf_batch"' in recent
    assert 'data-run-again-kind="pdf_batch"' in recent


def test_a_refused_start_is_audited_and_said(client, admin_user, batch, sim):
    sim.fault("server_error", endpoint="P3")
    client.force_login(admin_user)
    answer = client.post(reverse("run_again", args=[batch.pk]), {"next": "/"})
    words = [str(message) for message in get_messages(answer.wsgi_request)]
    assert words and words[0].startswith(f"Could not start {batch.title}")
    audit = RunRequest.objects.get()
    assert audit.run is None and audit.message


def test_a_batch_of_someone_elses_identity_is_not_started(client, staff_none, batch, sim):
    client.force_login(staff_none)
    assert client.post(reverse("run_again", args=[batch.pk])).status_code == 404
    assert not RunRequest.objects.exists()
