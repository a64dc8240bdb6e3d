"""Recent Files with PDF Manager batches among the files (the engine stores them as ExportFile rows of kind pdf_batch):
every page, fragment, CSV and API answer that lists or shows files still answers, with the batches in it. How a batch
row reads is the presentation's business; these only hold that nothing breaks and nothing mixes."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.support.factories import EXPORT_ID, make_export, make_file
from webadmit_dash.api import tokens
from webadmit_dash.core.models import BatchZip, ExportFile, Kind
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(identity):
    """A file and a batch sharing WebAdMIT's ids (export and template too), and batches in every other state."""
    export = make_export(identity, EXPORT_ID)
    template = make_export(identity, EXPORT_ID, "Transcripts", kind=Kind.PDF_BATCH)
    file = make_file(identity, FileStatus.FAILED, export=export, webadmit_id=6348)
    batch = make_file(identity, FileStatus.AVAILABLE, export=template, webadmit_id=6348)
    BatchZip.objects.create(export_file=batch, zip_webadmit_id=287866, part=1, parts=2)
    BatchZip.objects.create(export_file=batch, zip_webadmit_id=287867, part=2, parts=2)
    others = [make_file(identity, status, export=template) for status in FileStatus if status != FileStatus.AVAILABLE]
    return {"file": file, "batch": batch, "template": template, "others": others}


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_list_its_poll_and_its_csv_answer_with_batches_among_the_files(admin_client, rows):
    page = admin_client.get(reverse("recent_files"))
    assert page.status_code == 200
    assert reverse("file_detail", args=[rows["batch"].pk]).encode() in page.content

    poll = admin_client.get(reverse("poll_files"), {"since": 0}, HTTP_HX_REQUEST="true")
    assert poll.status_code in (200, 204)

    csv = admin_client.get(reverse("recent_files"), {"format": "csv"})
    assert csv.status_code == 200
    assert len(b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()) == 1 + ExportFile.objects.count()


def test_a_batchs_page_and_its_templates_page_answer(admin_client, rows):
    assert admin_client.get(reverse("file_detail", args=[rows["batch"].pk])).status_code == 200
    assert admin_client.get(reverse("schedules:export", args=[rows["template"].pk])).status_code == 200
    # A batch's Download leads to its zips, listed on its page (tests/web/test_zip_downloads.py).
    download = admin_client.get(reverse("download_file", args=[rows["batch"].pk]))
    assert download.status_code == 302 and download["Location"].endswith("#zips")


def test_a_number_naming_a_file_and_a_batch_is_asked_about_not_guessed(admin_client, rows):
    answer = admin_client.get(reverse("file_detail", args=[6348]))
    assert answer.status_code == 200
    assert {candidate.pk for candidate in answer.context["candidates"]} >= {rows["file"].pk, rows["batch"].pk}


def test_the_api_lists_and_shows_batches_among_the_files(admin_user, rows):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {tokens.create(admin_user, 'script').secret}")
    listed = client.get("/api/v1/files", {"limit": 1000})
    assert listed.status_code == 200 and len(listed.json()["items"]) == ExportFile.objects.count()
    assert client.get("/api/v1/files.csv").status_code == 200
    assert client.get(f"/api/v1/files/{rows['batch'].pk}").status_code == 200
