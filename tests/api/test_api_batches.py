"""PDF Manager batches in the API: each zip in the list and the file's detail with its own download address, which
answers as the batch's page does (the archived copy, else a redirect to a fresh P6 link from the simulator over
HTTP, audited with the zip named), and each zip's collection trail in the detail."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.collection.conftest import Collection
from tests.support.batches import ready_batch
from tests.support.factories import make_export, make_file
from tests.support.simulated import SimulatorControl
from webadmit_dash.collection.models import CollectedFile, CollectionRule, DeliveryRule, Destination
from webadmit_dash.core.models import BatchZip, DownloadEvent, ExportFile, IdentityGrant, Kind
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db
Outcome = DownloadEvent.Outcome


@pytest.fixture
def sim(simulator) -> SimulatorControl:
    return SimulatorControl(simulator)


@pytest.fixture
def batch(sim_identity, sim) -> ExportFile:
    """A ready batch of the simulator's large template (three zips), stored by refreshes as the engine does."""
    return ready_batch(sim, sim_identity, "Full Application PDFs")


def _zip_url(batch: ExportFile, part: int) -> str:
    return f"/api/v1/files/{batch.pk}/zips/{part}/download"


def _collected(batch: ExportFile, outbox: Path | None = None) -> list[CollectedFile]:
    """The batch's zips collected into the archive by the real collector (P6 on the simulator), and only its: the
    identity's older batches of the template are left to the past a new rule does not reach back into. With an
    `outbox`, delivered there by the real deliverer, with the index CSV."""
    ExportFile.objects.filter(kind=Kind.PDF_BATCH).exclude(pk=batch.pk).update(
        status_changed_at=timezone.now() - timedelta(days=3)
    )
    if outbox is None:
        CollectionRule.objects.create(export=batch.export)
    else:
        folder = Destination.objects.create(name="Outbox", kind=Destination.Kind.FOLDER, path=str(outbox))
        DeliveryRule.objects.create(destination=folder, export=batch.export, index_csv=True)
    collection = Collection()
    collection.step()  # the zips; the index waits for them
    collection.later(31)
    collection.step()  # the index, and the deliveries
    collection.step()
    pieces = list(CollectedFile.objects.filter(export_file=batch, piece=CollectedFile.Piece.ZIP).order_by("part"))
    assert [(each.part, each.state) for each in pieces] == [(part, CollectedFile.State.COLLECTED) for part in (1, 2, 3)]
    return pieces


def test_the_list_and_the_detail_give_each_zip_its_download(api_as, admin_user, batch):
    api = api_as(admin_user)
    expected = [
        {"part": part, "parts": 3, "archived": False, "download_url": _zip_url(batch, part)} for part in (1, 2, 3)
    ]

    items = {item["id"]: item for item in api.get("/api/v1/files").json()["items"]}
    detail = api.get(f"/api/v1/files/{batch.pk}").json()

    assert items[batch.pk]["kind"] == "pdf_batch" and items[batch.pk]["download_url"] is None
    assert items[batch.pk]["zips"] == expected
    assert all(item["zips"] == [] for item in items.values() if item["kind"] == "export")
    assert detail["zips"] == [{**each, "collected": None, "deliveries": []} for each in expected]
    assert (detail["index"], detail["collected"], detail["deliveries"]) == (None, None, [])


def test_a_zip_downloads_by_a_redirect_to_a_fresh_webadmit_link_and_is_audited(api_as, admin_user, batch, sim):
    calls = sim.calls().get("P6", 0)

    answer = api_as(admin_user).get(_zip_url(batch, 2))

    assert answer.status_code == 302
    assert answer["Referrer-Policy"] == "no-referrer" and "no-store" in answer["Cache-Control"]
    served = requests.get(answer["Location"], timeout=5)  # the simulator's S3-like link
    assert served.status_code == 200 and zipfile.ZipFile(io.BytesIO(served.content)).namelist()
    assert sim.calls().get("P6", 0) == calls + 1
    event = DownloadEvent.objects.get()
    assert (event.user, event.export_file, event.outcome) == (admin_user, batch, Outcome.REDIRECTED)
    assert (event.message, event.file_webadmit_id) == ("Zip 2 of 3", batch.webadmit_id)


def test_an_archived_zip_is_served_from_the_archive_without_webadmit(api_as, admin_user, batch, sim, simulator):
    kept = _collected(batch)
    served = sim.world.pdf_manager.zip_download(batch.zips.get(part=3).zip_webadmit_id).body()
    # The batch expired from WebAdMIT's lists, and WebAdMIT is down: the archive still serves every zip.
    ExportFile.objects.filter(pk=batch.pk).update(gone_at=timezone.now())
    simulator.stop()
    api = api_as(admin_user)

    answer = api.get(_zip_url(batch, 3))

    assert answer.status_code == 200
    assert b"".join(answer.streaming_content) == served
    assert (
        answer["Content-Disposition"].startswith('attachment; filename="') and ".zip" in answer["Content-Disposition"]
    )
    assert "no-store" in answer["Cache-Control"]
    event = DownloadEvent.objects.get()
    assert (event.user, event.export_file, event.outcome) == (admin_user, batch, Outcome.FROM_ARCHIVE)
    assert event.message == "Zip 3 of 3"
    [item] = [item for item in api.get("/api/v1/files", {"expired": "1"}).json()["items"] if item["id"] == batch.pk]
    assert [(each["archived"], each["download_url"]) for each in item["zips"]] == [
        (True, _zip_url(batch, part)) for part in (1, 2, 3)
    ]
    detail = api.get(f"/api/v1/files/{batch.pk}").json()
    for each, collected in zip(detail["zips"], kept, strict=True):
        assert each["collected"]["state"] == "collected" and each["collected"]["sha256"] == collected.sha256
        assert each["collected"]["size"] == collected.size and each["deliveries"] == []


def test_the_detail_gives_each_zips_trail_and_the_index_its_own(api_as, admin_user, batch, tmp_path):
    kept = _collected(batch, tmp_path)

    detail = api_as(admin_user).get(f"/api/v1/files/{batch.pk}").json()

    assert (detail["collected"], detail["deliveries"], detail["archived"]) == (None, [], True)
    for each, collected in zip(detail["zips"], kept, strict=True):
        assert (each["part"], each["collected"]["sha256"]) == (collected.part, collected.sha256)
        [delivered] = each["deliveries"]
        assert (delivered["destination"], delivered["state"]) == ("Outbox", "delivered")
        assert delivered["file_name"].endswith(f"_{batch.webadmit_id}_part{collected.part}of3.zip")
        assert (tmp_path / delivered["file_name"]).exists()
    index = detail["index"]
    assert index["collected"]["state"] == "collected" and index["collected"]["content_type"].startswith("text/csv")
    [delivered] = index["deliveries"]
    assert delivered["state"] == "delivered" and delivered["file_name"].endswith(f"_{batch.webadmit_id}_index.csv")


def test_a_gone_batch_not_archived_has_no_zip_downloads(api_as, admin_user, batch):
    ExportFile.objects.filter(pk=batch.pk).update(gone_at=timezone.now())
    items = api_as(admin_user).get("/api/v1/files", {"expired": "1", "kind": "pdf_batch"}).json()["items"]
    [item] = [item for item in items if item["id"] == batch.pk]
    assert [(each["part"], each["download_url"]) for each in item["zips"]] == [(1, None), (2, None), (3, None)]


def test_an_unknown_part_and_an_export_file_have_no_zip(api_as, admin_user, batch):
    export_file = ExportFile.objects.filter(kind=Kind.EXPORT).first()
    api = api_as(admin_user)
    assert api.get(_zip_url(batch, 4)).status_code == 404
    assert api.get(_zip_url(export_file, 1)).status_code == 404
    assert api.get(f"/api/v1/files/{batch.pk}/zips/0/download").status_code == 422
    assert not DownloadEvent.objects.exists()


def test_a_zip_is_only_for_whoever_may_see_its_batch(api_as, staff_none, staff_granted, sim_identity, batch):
    assert api_as(staff_none).get(_zip_url(batch, 1)).status_code == 404
    assert not DownloadEvent.objects.exists()
    IdentityGrant.objects.create(identity=sim_identity, user=staff_granted)
    assert api_as(staff_granted).get(_zip_url(batch, 1)).status_code == 302
    assert DownloadEvent.objects.get().user == staff_granted


def test_a_batch_not_ready_now_is_refused_in_words_without_asking_webadmit(api_as, admin_user, batch, sim):
    ExportFile.objects.filter(pk=batch.pk).update(status="failed")
    calls = sim.calls().get("P6", 0)

    answer = api_as(admin_user).get(_zip_url(batch, 1))

    assert answer.status_code == 409
    assert answer.json()["outcome"] == "not_downloadable" and "not ready" in answer.json()["detail"]
    assert sim.calls().get("P6", 0) == calls
    assert DownloadEvent.objects.get().message.startswith("Zip 1 of 3: ")


def test_a_zip_webadmit_refuses_says_why(api_as, admin_user, batch, sim):
    sim.fault("server_error", endpoint="P6")
    answer = api_as(admin_user).get(_zip_url(batch, 1))
    assert answer.status_code in (502, 503)
    assert set(answer.json()) == {"detail", "title", "outcome"} and answer.json()["outcome"] != "redirected"
    assert DownloadEvent.objects.get().outcome != Outcome.REDIRECTED


def test_zip_downloads_count_in_the_users_interactive_limit(api_as, admin_user, batch, settings):
    settings.WEBADMIT_INTERACTIVE_PER_MINUTE = 2
    api = api_as(admin_user)

    answers = [api.get(_zip_url(batch, part)).status_code for part in (1, 2, 3)]

    assert answers == [302, 302, 429]
    refused = api.get(_zip_url(batch, 1))
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 61
    assert refused.json()["title"] == "Too many requests"


def test_the_lists_queries_do_not_grow_with_its_batches(api_as, admin_user, identity):
    template = make_export(identity, 880_001, "Transcripts", kind=Kind.PDF_BATCH)

    def add_batches(count: int) -> None:
        for _ in range(count):
            batch = make_file(identity, FileStatus.AVAILABLE, export=template)
            for part in (1, 2):
                BatchZip.objects.create(
                    export_file=batch, zip_webadmit_id=batch.webadmit_id * 10 + part, part=part, parts=2
                )

    api = api_as(admin_user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            items = api.get("/api/v1/files").json()["items"]
        assert all(len(item["zips"]) == 2 for item in items)
        return len(captured)

    add_batches(1)
    queries()  # the token's first use is written down once
    few = queries()
    add_batches(5)
    assert queries() == few


def test_the_openapi_schema_documents_the_zips(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/files/{file_id}/zips/{part}/download"]["get"]
    assert {"200", "302", "404", "409", "429", "503"} <= set(operation["responses"])
    assert "zip" in operation["description"]
    components = schema["components"]["schemas"]
    assert "download_url" in components["ZipOut"]["properties"]
    assert "zips" in components["FileOut"]["properties"]
    assert {"collected", "deliveries"} <= set(components["ZipDetail"]["properties"])
