"""A PDF Manager batch's Download: each of its zips has our stable address, which checks who asks, mints a fresh
link from WebAdMIT (P6, the simulator over HTTP), redirects to it at once and audits it as a file download."""

from __future__ import annotations

import io
import logging
import zipfile

import pytest
import requests
from django.urls import reverse

from tests.support.batches import ready_batch
from tests.support.simulated import SimulatorControl
from webadmit_dash.core.models import DownloadEvent, ExportFile, Kind, UserIdentity

pytestmark = pytest.mark.django_db
Outcome = DownloadEvent.Outcome


@pytest.fixture
def sim(simulator) -> SimulatorControl:
    return SimulatorControl(simulator)


@pytest.fixture
def batch(sim_identity: UserIdentity, sim: SimulatorControl) -> ExportFile:
    """A ready batch of the simulator's large template (three zips), stored by refreshes as the engine does."""
    return ready_batch(sim, sim_identity, "Full Application PDFs")


def test_each_zip_redirects_at_once_to_a_fresh_link_that_serves_it_and_is_audited(client, admin_user, batch, caplog):
    client.force_login(admin_user)
    parts = list(batch.zips.order_by("part"))
    assert [(each.part, each.parts) for each in parts] == [(1, 3), (2, 3), (3, 3)]
    with caplog.at_level(logging.DEBUG):
        answers = [client.get(reverse("download_zip", args=[batch.pk, each.part])) for each in parts]
    for answer in answers:
        assert answer.status_code == 302
        assert answer["Referrer-Policy"] == "no-referrer"
        served = requests.get(answer["Location"], timeout=5)
        assert served.status_code == 200
        assert zipfile.ZipFile(io.BytesIO(served.content)).namelist(), "a zip of the batch's PDFs"
        assert answer["Location"] not in caplog.text
    events = DownloadEvent.objects.order_by("created_at")
    assert [(e.user, e.export_file, e.outcome) for e in events] == [(admin_user, batch, Outcome.REDIRECTED)] * 3
    assert [e.message for e in events] == ["Zip 1 of 3", "Zip 2 of 3", "Zip 3 of 3"]
    assert all(e.file_webadmit_id == batch.webadmit_id for e in events)


def test_the_batchs_download_leads_to_its_list_of_zips(client, admin_user, batch):
    client.force_login(admin_user)
    answer = client.get(reverse("download_file", args=[batch.pk]))
    assert answer.status_code == 302 and answer["Location"] == reverse("file_detail", args=[batch.pk]) + "#zips"
    page = client.get(answer["Location"]).content.decode()
    for part in (1, 2, 3):
        assert reverse("download_zip", args=[batch.pk, part]) in page
    assert "Zip 2 of 3" in page


def test_a_batch_of_one_zip_downloads_it_straight_away(client, admin_user, batch):
    batch.zips.exclude(part=1).delete()
    batch.zips.update(parts=1)
    client.force_login(admin_user)
    answer = client.get(reverse("download_file", args=[batch.pk]))
    assert answer["Location"] == reverse("download_zip", args=[batch.pk, 1])


def test_the_rows_download_offers_each_zip(client, admin_user, batch):
    client.force_login(admin_user)
    body = client.get(reverse("recent_files"), {"kind": "pdf_batch"}).content.decode()
    assert f'id="zips-{batch.pk}"' in body
    for part in (1, 2, 3):
        assert f'href="{reverse("download_zip", args=[batch.pk, part])}"' in body
    assert ">Zip 3 of 3<" in body


def test_a_zip_webadmit_refuses_gets_the_download_error_page(client, admin_user, batch, sim):
    sim.fault("server_error", endpoint="P6")
    client.force_login(admin_user)
    answer = client.get(reverse("download_zip", args=[batch.pk, 1]))
    assert answer.status_code >= 400
    assert DownloadEvent.objects.get().outcome != Outcome.REDIRECTED


def test_a_batch_not_ready_now_is_not_asked_about(client, admin_user, batch, sim):
    ExportFile.objects.filter(pk=batch.pk).update(status="failed")
    calls = sim.calls().get("P6", 0)
    client.force_login(admin_user)
    assert client.get(reverse("download_zip", args=[batch.pk, 1])).status_code == 409
    assert sim.calls().get("P6", 0) == calls


def test_a_zip_is_no_one_elses(client, staff_none, batch):
    client.force_login(staff_none)
    assert client.get(reverse("download_zip", args=[batch.pk, 1])).status_code == 404
    assert not DownloadEvent.objects.exists()


def test_an_export_file_has_no_zips(client, admin_user, batch):
    export_file = ExportFile.objects.filter(kind=Kind.EXPORT).first()
    client.force_login(admin_user)
    assert client.get(reverse("download_zip", args=[export_file.pk, 1])).status_code == 404
    assert client.get(reverse("download_zip", args=[batch.pk, 4])).status_code == 404


def test_a_zip_needs_sign_in(client, batch):
    answer = client.get(reverse("download_zip", args=[batch.pk, 1]))
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
