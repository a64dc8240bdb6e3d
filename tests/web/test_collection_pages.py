"""What the pages show and serve of collection: downloads from the archive (no WebAdMIT call, verified first), the
file page's trail and Deliver again, the rows' delivered / delivery-failed marks, and a failed delivery counted as
needing attention everywhere attention is counted."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.collection import (
    EXPORT_BYTES,
    archived_path,
    collect,
    deliver_now,
    delivery,
    destination,
    refused_delivery,
    tamper,
)
from tests.support.factories import make_export, make_file
from webadmit_dash.collection.models import CollectedFile, FileDelivery
from webadmit_dash.core.models import DownloadEvent, ExportFile
from webadmit_dash.shared.templatetags.display import file_size
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db
Outcome = DownloadEvent.Outcome


@pytest.fixture
def sim_file(sim_identity, world) -> ExportFile:
    """Our row for a file the simulator holds as Available."""
    state = world.files(sim_identity.webadmit_id)[0]
    world.force_status(state.id, "Available")
    export = world.export(state.export_id)
    return make_file(
        sim_identity,
        FileStatus.AVAILABLE,
        webadmit_id=state.id,
        export=make_export(sim_identity, export.id, export.name),
    )


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


# Downloads from the archive


def test_an_archived_file_is_served_from_the_archive_while_webadmit_is_down(client, admin_user, sim_file, simulator):
    collected = collect(sim_file)
    simulator.stop()  # WebAdMIT answers nothing now
    client.force_login(admin_user)
    response = client.get(f"/files/{sim_file.pk}/download/")
    assert response.status_code == 200
    assert streamed(response) == EXPORT_BYTES
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Length"] == str(len(EXPORT_BYTES))
    assert "no-store" in response["Cache-Control"]
    disposition = response["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+\.csv"', disposition)
    assert str(collected.file_webadmit_id) in disposition
    event = DownloadEvent.objects.get()
    assert (event.user, event.export_file, event.outcome) == (admin_user, sim_file, Outcome.FROM_ARCHIVE)


def test_an_archived_file_is_served_after_webadmit_forgot_it(client, admin_user, sim_file, simulator):
    collect(sim_file)
    # WebAdMIT no longer lists it (and no longer answers at all).
    ExportFile.objects.filter(pk=sim_file.pk).update(gone_at=timezone.now())
    simulator.stop()
    client.force_login(admin_user)
    listing = client.get("/?expired=1").content.decode()
    assert f'id="download-{sim_file.pk}"' in listing  # still offered: the archive has it
    page = client.get(f"/files/{sim_file.pk}/").content.decode()
    assert f'id="download-{sim_file.pk}"' in page
    response = client.get(f"/files/{sim_file.pk}/download/")
    assert response.status_code == 200 and streamed(response) == EXPORT_BYTES


def test_a_tampered_archived_copy_is_not_served_and_is_audited(client, admin_user, sim_file, simulator):
    collected = collect(sim_file)
    tamper(collected)
    client.force_login(admin_user)
    response = client.get(f"/files/{sim_file.pk}/download/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "failed its integrity check" in html and "It was not served" in html
    assert b"AP-000001" not in response.content
    event = DownloadEvent.objects.get()
    assert (event.outcome, event.export_file) == (Outcome.ARCHIVE_TAMPERED, sim_file)
    assert "failed its integrity check" in event.message
    # Not replaced by WebAdMIT's copy: no link was asked for (that would be a second, redirected, download event).
    assert DownloadEvent.objects.count() == 1


def test_an_archived_copy_gone_from_the_archive_is_refused_in_words(client, admin_user, identity):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    archived_path(collect(export_file)).unlink()
    client.force_login(admin_user)
    response = client.get(f"/files/{export_file.pk}/download/")
    assert response.status_code == 500
    assert "could not be read: it is missing from the archive. It was not served." in response.content.decode()
    assert DownloadEvent.objects.get().outcome == Outcome.ARCHIVE_TAMPERED


def test_a_user_without_the_identity_gets_404_for_the_archived_file(client, staff_none, staff_via_group, identity):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    collect(export_file)
    for user in (staff_none, staff_via_group):
        client.force_login(user)
        assert client.get(f"/files/{export_file.pk}/download/").status_code == 404
        assert client.get(f"/files/{export_file.pk}/").status_code == 404
        assert client.post(f"/files/{export_file.pk}/deliver-again/").status_code == 404
    assert not DownloadEvent.objects.exists()
    assert not FileDelivery.objects.exists()


def test_a_granted_user_downloads_the_archived_copy(client, staff_granted, identity):
    export_file = make_file(identity, FileStatus.SUCCESS_WITH_ERRORS)
    collect(export_file, b"one\ntwo\n", "text/plain; charset=utf-8")
    client.force_login(staff_granted)
    response = client.get(f"/files/{export_file.pk}/download/")
    assert response.status_code == 200 and streamed(response) == b"one\ntwo\n"
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_a_pruned_copy_is_downloaded_from_webadmit_again(client, admin_user, sim_file):
    collected = collect(sim_file)
    CollectedFile.objects.filter(pk=collected.pk).update(state=CollectedFile.State.PRUNED, storage_name="")
    client.force_login(admin_user)
    response = client.get(f"/files/{sim_file.pk}/download/")
    assert response.status_code == 302
    assert DownloadEvent.objects.get().outcome == Outcome.REDIRECTED


# The file page's trail


def test_the_file_page_shows_what_was_collected_and_each_delivery(client, admin_user, identity, tmp_path):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    collected = collect(export_file)
    slate = destination("Slate SFTP", tmp_path)
    delivered = deliver_now(
        FileDelivery.objects.create(collected=collected, destination=slate, file_name="Banner_20261205.csv")
    )
    waiting = delivery(collected, destination("SIS share"), FileDelivery.State.PENDING)
    refused = refused_delivery(collected, tmp_path, name="Salesforce bucket")
    client.force_login(admin_user)
    html = client.get(f"/files/{export_file.pk}/").content.decode()
    trail = html[html.index('id="trail"') : html.index('id="timeline-heading"')]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", trail))
    size = file_size(len(EXPORT_BYTES))
    assert size == "287 kB"
    assert f"Collected {timezone.localtime(collected.collected_at):%H:%M} · {size} · 3,401 lines ·" in text
    assert f"3,401 lines · SHA-256 {collected.sha256}" in text  # all of it in the text, to copy; its start shown
    assert delivered.state == FileDelivery.State.DELIVERED
    assert f"Delivered to Slate SFTP {timezone.localtime(delivered.delivered_at):%H:%M} as Banner_20261205.csv" in text
    assert "(checksum verified)" in text and f'title="Put at {delivered.remote_name}"' in trail
    next_at = timezone.localtime(waiting.next_attempt_at)
    assert f"Waiting to be delivered to SIS share as Export_{collected.file_webadmit_id}.csv: try 3 of 12, " in text
    assert f"next at {next_at:%H:%M}" in text and "last error: Connection refused" in text
    assert refused.state == FileDelivery.State.FAILED
    assert "Delivery to Salesforce bucket failed" in text and "no-such-folder" in text
    assert 'id="deliver-again-' in trail


def test_a_file_waiting_or_failing_to_be_collected_says_so(client, admin_user, identity):
    waiting_file = make_file(identity, FileStatus.AVAILABLE)
    failed_file = make_file(identity, FileStatus.AVAILABLE)
    for export_file, state, error in [
        (waiting_file, CollectedFile.State.WAITING, "WebAdMIT answered 503"),
        (failed_file, CollectedFile.State.FAILED, "The link expired three times"),
    ]:
        CollectedFile.objects.create(
            export_file=export_file,
            identity=identity,
            file_webadmit_id=export_file.webadmit_id,
            export_webadmit_id=export_file.export_webadmit_id,
            export_name=export_file.export_name,
            finished_at=export_file.status_changed_at,
            state=state,
            attempts=2,
            last_error=error,
        )
    client.force_login(admin_user)
    waiting = client.get(f"/files/{waiting_file.pk}/").content.decode()
    assert "Waiting to be collected, try 3, next at" in waiting and "WebAdMIT answered 503" in waiting
    assert 'id="deliver-again-' not in waiting
    failed = client.get(f"/files/{failed_file.pk}/").content.decode()
    assert "Collection failed: The link expired three times" in failed


def test_a_collected_file_not_delivered_and_a_pruned_one_say_so(client, admin_user, identity, settings):
    settings.ARCHIVE_RETENTION_DAYS = 30
    kept = make_file(identity, FileStatus.AVAILABLE)
    collect(kept)
    pruned_file = make_file(identity, FileStatus.AVAILABLE)
    pruned = collect(pruned_file)
    pruned_at = timezone.now() - timedelta(days=2)
    CollectedFile.objects.filter(pk=pruned.pk).update(
        state=CollectedFile.State.PRUNED, storage_name="", wrapped_key="", pruned_at=pruned_at
    )
    client.force_login(admin_user)
    html = client.get(f"/files/{kept.pk}/").content.decode()
    assert "Not delivered anywhere: no delivery rule covers it." in html
    html = re.sub(r"\s+", " ", client.get(f"/files/{pruned_file.pk}/").content.decode())
    assert "Archived copy pruned on" in html and "(kept 30 days)" in html
    assert 'id="deliver-again-' not in html


def test_a_file_not_covered_by_any_rule_shows_no_trail(client, admin_user, identity):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    client.force_login(admin_user)
    assert 'id="trail"' not in client.get(f"/files/{export_file.pk}/").content.decode()


# Deliver again


def test_deliver_again_adds_a_round_and_answers_htmx_with_the_trail(client, staff_granted, identity, tmp_path):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    collected = collect(export_file)
    refused_delivery(collected, tmp_path)
    client.force_login(staff_granted)
    response = client.post(
        f"/files/{export_file.pk}/deliver-again/",
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver/files/{export_file.pk}/"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="panel" id="trail"')
    assert "will be delivered again to Slate SFTP" in html  # the message, out of band
    assert "Waiting to be delivered to <strong>Slate SFTP</strong>" in html
    latest = collected.deliveries.order_by("-round").first()
    assert (latest.round, latest.state, latest.requested_by) == (2, FileDelivery.State.PENDING, staff_granted)
    assert "files-changed" in response["HX-Trigger"]


def test_deliver_again_without_javascript_goes_back_to_the_page(client, admin_user, identity, tmp_path):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    collected = collect(export_file)
    refused_delivery(collected, tmp_path)
    client.force_login(admin_user)
    page = f"/files/{export_file.pk}/"
    response = client.post(f"/files/{export_file.pk}/deliver-again/", {"next": page})
    assert response.status_code == 302 and response["Location"] == page
    assert collected.deliveries.count() == 2
    assert "will be delivered again" in client.get(page).content.decode()


def test_deliver_again_is_refused_in_words_for_a_file_not_archived(client, admin_user, identity):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    client.force_login(admin_user)
    page = f"/files/{export_file.pk}/"
    client.post(f"/files/{export_file.pk}/deliver-again/", {"next": page})
    html = client.get(page).content.decode()
    assert "is not in the archive (it has not been collected): there is nothing to deliver again." in html
    assert not FileDelivery.objects.exists()


def test_deliver_again_needs_a_post(client, admin_user, identity):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    client.force_login(admin_user)
    assert client.get(f"/files/{export_file.pk}/deliver-again/").status_code == 405


# Row marks and attention


def test_rows_carry_a_delivered_or_delivery_failed_mark(client, admin_user, identity, tmp_path):
    delivered_file = make_file(identity, FileStatus.AVAILABLE)
    failed_file = make_file(identity, FileStatus.AVAILABLE)
    plain_file = make_file(identity, FileStatus.AVAILABLE)
    deliver_now(
        FileDelivery.objects.create(
            collected=collect(delivered_file), destination=destination("Outbox", tmp_path), file_name="a.csv"
        )
    )
    refused_delivery(collect(failed_file), tmp_path)
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    rows = {}
    for export_file in (delivered_file, failed_file, plain_file):
        start = html.index(f'id="file-{export_file.pk}"')
        rows[export_file.pk] = html[start : html.index("</tr>", start)]
    assert "handover--delivered" in rows[delivered_file.pk] and ">Delivered<" in rows[delivered_file.pk]
    assert "handover--failed" in rows[failed_file.pk] and ">Delivery failed<" in rows[failed_file.pk]
    assert "handover" not in rows[plain_file.pk]
    # Needing attention, the refused file sorts first.
    assert html.index(f'id="file-{failed_file.pk}"') < html.index(f'id="file-{delivered_file.pk}"')


def test_the_marks_cost_no_query_per_row(client, admin_user, identity, tmp_path):
    files = [make_file(identity, FileStatus.AVAILABLE) for _ in range(6)]
    client.force_login(admin_user)
    client.get("/")  # caches warm
    with CaptureQueriesContext(connection) as without_marks:
        client.get("/")
    outbox = destination("Outbox", tmp_path)
    for export_file in files[:3]:
        deliver_now(FileDelivery.objects.create(collected=collect(export_file), destination=outbox, file_name="x"))
    for export_file in files[3:]:
        refused_delivery(collect(export_file), tmp_path, name=f"Refusing {export_file.pk}")
    client.get("/")
    with CaptureQueriesContext(connection) as with_marks:
        html = client.get("/").content.decode()
    assert html.count("handover--failed") == 3 and html.count("handover--delivered") == 3
    assert len(with_marks) == len(without_marks)


def test_a_failed_delivery_counts_as_needing_attention_in_title_chips_and_filter(
    client, admin_user, identity, tmp_path
):
    make_file(identity, FileStatus.QUEUED)
    refused = make_file(identity, FileStatus.AVAILABLE)
    make_file(identity, FileStatus.AVAILABLE)
    client.force_login(admin_user)
    client.get("/")  # the counts are cached per identity: a failed delivery must move them on
    refused_delivery(collect(refused), tmp_path)
    html = client.get("/").content.decode()
    assert "<title>1 running · 1 delivery failed · Recent Files</title>" in html
    counts = dict(re.findall(r'id="count-([a-z_]+)"[^>]*>(\d+)<', html))
    assert (counts["all"], counts["available"], counts["delivery_failed"]) == ("3", "2", "1")
    assert "favicon-failed.svg" in html
    listed = client.get("/?status=delivery_failed").content.decode()
    assert re.findall(r'id="file-(\d+)"', listed) == [str(refused.pk)]
    # Chosen with its status's chip, the file is listed (and counted) once.
    both = client.get("/?status=delivery_failed&status=available").content.decode()
    assert len(re.findall(r'<tr id="file-(\d+)"', both)) == 2
    assert "1\u20132 of 2 ·" in re.sub(r"<[^>]+>", "", both)


def test_a_delivery_that_succeeds_again_no_longer_needs_attention(client, admin_user, identity, tmp_path):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    collected = collect(export_file)
    refused = refused_delivery(collected, tmp_path)
    client.force_login(admin_user)
    assert "1 delivery failed" in client.get("/").content.decode()
    (tmp_path / "no-such-folder").mkdir()
    again = FileDelivery.objects.create(
        collected=collected, destination=refused.destination, round=2, file_name="Export.csv"
    )
    assert deliver_now(again).state == FileDelivery.State.DELIVERED
    html = client.get("/").content.decode()
    assert "delivery failed ·" not in html and "handover--delivered" in html


def test_the_csv_says_which_files_need_attention_and_how_their_delivery_went(client, admin_user, identity, tmp_path):
    queued = make_file(identity, FileStatus.QUEUED)
    refused = make_file(identity, FileStatus.AVAILABLE)
    plain = make_file(identity, FileStatus.AVAILABLE)
    refused_delivery(collect(refused), tmp_path)
    client.force_login(admin_user)
    response = client.get("/?format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header, body = rows[0], {int(row[0]): row for row in rows[1:]}
    attention, handover = header.index("Needs attention"), header.index("Delivery")
    assert body[queued.webadmit_id][attention] == "yes"
    assert (body[refused.webadmit_id][attention], body[refused.webadmit_id][handover]) == ("yes", "Delivery failed")
    assert (body[plain.webadmit_id][attention], body[plain.webadmit_id][handover]) == ("no", "")
