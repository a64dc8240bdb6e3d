"""How a PDF Manager batch reads among export files: its row's name and list line, the kind filter (list and counts
alike), the CSV's Kind column and the API's `kind`, each in the words of core's Kind."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from tests.support.factories import EXPORT_ID, make_export, make_file
from webadmit_dash.api import tokens
from webadmit_dash.core.models import BatchZip, Kind, UserIdentity
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(identity):
    """Two export files and three batches of one template, with the same WebAdMIT ids on both sides."""
    export = make_export(identity, EXPORT_ID)
    template = make_export(identity, EXPORT_ID, "Transcripts", kind=Kind.PDF_BATCH)
    files = [make_file(identity, FileStatus.AVAILABLE, export=export) for _ in range(2)]
    batches = [make_file(identity, status, export=template) for status in (FileStatus.AVAILABLE, FileStatus.QUEUED)]
    batches.append(make_file(identity, FileStatus.FAILED, export=template))
    return {"files": files, "batches": batches, "template": template}


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_a_batch_row_reads_pdf_and_its_template_with_the_templates_list_where_the_format_is(admin_client, mixed):
    page = admin_client.get(reverse("recent_files"))
    rows = {row.pk: row for row in page.context["files"]}
    batch = rows[mixed["batches"][0].pk]
    assert batch.name == "PDF · Transcripts"
    assert batch.format == "Complete Applications · PDF"
    assert rows[mixed["files"][0].pk].name == "Nightly Banner Export"
    assert "PDF · Transcripts" in page.content.decode()


def test_a_batch_whose_template_is_not_named_yet_reads_as_a_template_not_an_export(identity):
    batch = make_file(identity, FileStatus.QUEUED, export=make_export(identity, 77, kind=Kind.PDF_BATCH))
    batch.export = None
    assert batch.title == "PDF · Template 77"


@pytest.mark.parametrize(("kind", "expected"), [("pdf_batch", "batches"), ("export", "files")])
def test_the_kind_filter_lists_and_counts_one_kind(admin_client, mixed, kind, expected):
    page = admin_client.get(reverse("recent_files"), {"kind": kind})
    assert {row.pk for row in page.context["files"]} == {item.pk for item in mixed[expected]}
    assert page.context["counts"].total == len(mixed[expected])
    assert f'<option value="{kind}" selected' in page.content.decode()


def test_an_unknown_kind_is_dropped_rather_than_failing_the_page(admin_client, mixed):
    page = admin_client.get(reverse("recent_files"), {"kind": "spreadsheet"})
    assert page.status_code == 200
    assert page.context["counts"].total == 5


def test_the_kind_filters_choices_are_core_kinds_labels(admin_client, mixed, identity):
    UserIdentity.objects.filter(pk=identity.pk).update(watch_pdf_batches=True)
    body = admin_client.get(reverse("recent_files")).content.decode()
    assert ">Export files</option>" in body and ">PDF Manager batches</option>" in body
    # The subtitle says what the list holds.
    assert "Export files and PDF Manager batches from 1 identity" in body


def test_without_an_identity_following_batches_the_page_offers_no_kind_filter(admin_client, mixed):
    body = admin_client.get(reverse("recent_files")).content.decode()
    assert 'name="kind"' not in body
    assert "Export files from 1 identity" in body


def test_the_csv_says_each_rows_kind_in_the_last_column(admin_client, mixed):
    answer = admin_client.get(reverse("recent_files"), {"format": "csv"})
    lines = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode("utf-8-sig"))))
    assert lines[0][-1] == "Kind"
    assert sorted(line[-1] for line in lines[1:]) == ["Export file"] * 2 + ["PDF Manager batch"] * 3


def test_the_csv_of_the_kind_filter_has_that_kind_only(admin_client, mixed):
    answer = admin_client.get(reverse("recent_files"), {"format": "csv", "kind": "pdf_batch"})
    lines = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode("utf-8-sig"))))
    assert [line[-1] for line in lines[1:]] == ["PDF Manager batch"] * 3


def test_the_api_gives_each_items_kind_and_filters_by_it(admin_user, mixed):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {tokens.create(admin_user, 'script').secret}")
    items = client.get("/api/v1/files", {"limit": 100}).json()["items"]
    assert sorted(item["kind"] for item in items) == ["export"] * 2 + ["pdf_batch"] * 3
    batches = client.get("/api/v1/files", {"kind": "pdf_batch"}).json()["items"]
    assert {item["id"] for item in batches} == {batch.pk for batch in mixed["batches"]}
    assert client.get("/api/v1/files", {"kind": "spreadsheet"}).status_code == 422


def test_the_api_offers_no_export_download_for_a_batch(admin_user, mixed):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {tokens.create(admin_user, 'script').secret}")
    items = {item["id"]: item for item in client.get("/api/v1/files").json()["items"]}
    assert items[mixed["batches"][0].pk]["download_url"] is None
    assert items[mixed["files"][0].pk]["download_url"] is not None


def test_a_batchs_page_says_what_it_is_lists_its_zips_and_its_history(admin_client, mixed):
    batch = mixed["batches"][0]
    for part in (1, 2):
        BatchZip.objects.create(export_file=batch, zip_webadmit_id=9000 + part, part=part, parts=2)
    page = admin_client.get(reverse("file_detail", args=[batch.pk]))
    body = page.content.decode()
    assert "<h1>PDF · Transcripts</h1>" in body
    assert "batch " + str(batch.webadmit_id) in body and "Complete Applications · PDF" in body
    facts = body[body.index('id="batch-facts"') : body.index('id="zips"')]
    assert "Transcripts" in facts and "Transcript" in facts and "Complete Applications" in facts
    for part in (1, 2):
        assert f'href="{reverse("download_zip", args=[batch.pk, part])}' in body
    assert "Zip 2 of 2" in body and "Batches of this template" in body
    assert "Status history" in body


def test_a_ready_batch_whose_zips_are_not_read_yet_says_so(admin_client, mixed):
    batch = mixed["batches"][0]
    body = admin_client.get(reverse("file_detail", args=[batch.pk])).content.decode()
    assert "its zips are listed at the next refresh" in body
    row = admin_client.get(reverse("recent_files")).content.decode()
    assert "Listing its zips…" in row
