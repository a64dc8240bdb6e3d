"""The API's side of collection: a file's trail, downloads from the archive (without WebAdMIT, verified first, 404
for what the token's user may not see), Deliver again, and a failed delivery counted as needing attention."""

from __future__ import annotations

import pytest

from tests.support.collection import EXPORT_BYTES, collect, deliver_now, destination, refused_delivery, tamper
from tests.support.factories import make_export, make_file
from webadmit_dash.api.models import ApiToken
from webadmit_dash.collection.models import FileDelivery
from webadmit_dash.core.models import DownloadEvent, IdentityGrant
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim_file(sim_identity, world):
    state = world.files(sim_identity.webadmit_id)[0]
    world.force_status(state.id, "Available")
    return make_file(
        sim_identity, FileStatus.AVAILABLE, webadmit_id=state.id, export=make_export(sim_identity, state.export_id)
    )


def test_a_file_comes_with_its_collection_trail(api_as, staff_granted, identity, tmp_path):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    collected = collect(export_file)
    delivered = deliver_now(
        FileDelivery.objects.create(
            collected=collected, destination=destination("Outbox", tmp_path), file_name="Banner.csv"
        )
    )
    refused = refused_delivery(collected, tmp_path)
    body = api_as(staff_granted).get(f"/api/v1/files/{export_file.pk}").json()
    assert body["collected"] == {
        "state": "collected",
        "size": len(EXPORT_BYTES),
        "sha256": collected.sha256,
        "line_count": 3401,
        "content_type": "text/csv",
        "collected_at": body["collected"]["collected_at"],
        "pruned_at": None,
        "hold": False,
        "last_error": "",
    }
    assert body["collected"]["collected_at"].startswith(collected.collected_at.strftime("%Y-%m-%dT%H:%M"))
    first, second = body["deliveries"]
    assert (first["destination"], first["state"], first["file_name"]) == ("Outbox", "delivered", "Banner.csv")
    assert first["remote_name"] == delivered.remote_name and first["checksum_verified"] is True
    assert first["delivered_at"] and first["attempts"] == 1 and first["last_error"] == ""
    assert (second["destination"], second["state"]) == ("Slate SFTP", "failed")
    assert second["last_error"] == refused.last_error and "does not exist" in second["last_error"]
    assert (body["archived"], body["delivery_failed"], body["needs_attention"]) == (True, True, True)


def test_a_file_nothing_collected_has_an_empty_trail(api_as, admin_user, identity):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    body = api_as(admin_user).get(f"/api/v1/files/{export_file.pk}").json()
    assert (body["collected"], body["deliveries"], body["archived"]) == (None, [], False)
    assert (body["needs_attention"], body["delivery_failed"]) == (False, False)


def test_an_api_download_of_an_archived_file_needs_no_webadmit(
    api_as, staff_granted, sim_identity, sim_file, simulator
):
    IdentityGrant.objects.create(identity=sim_identity, user=staff_granted)
    collect(sim_file)
    simulator.stop()
    response = api_as(staff_granted).get(f"/api/v1/files/{sim_file.pk}/download")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == EXPORT_BYTES
    assert response["Content-Disposition"].startswith('attachment; filename="')
    assert "no-store" in response["Cache-Control"]
    event = DownloadEvent.objects.get()
    assert (event.user, event.export_file, event.outcome) == (staff_granted, sim_file, "from_archive")


def test_an_api_download_of_a_tampered_copy_serves_nothing(api_as, admin_user, sim_file):
    tamper(collect(sim_file))
    response = api_as(admin_user).get(f"/api/v1/files/{sim_file.pk}/download")
    assert response.status_code == 500
    body = response.json()
    assert body["outcome"] == "archive_tampered" and "It was not served" in body["detail"]
    assert DownloadEvent.objects.get().outcome == "archive_tampered"


def test_another_users_archived_file_is_not_found(acting_api_as, staff_via_group, staff_none, identity, tmp_path):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    refused_delivery(collect(export_file), tmp_path)
    for user in (staff_via_group, staff_none):
        client = acting_api_as(user)
        assert client.get(f"/api/v1/files/{export_file.pk}").status_code == 404
        assert client.get(f"/api/v1/files/{export_file.pk}/download").status_code == 404
        assert client.post(f"/api/v1/files/{export_file.pk}/deliver-again").status_code == 404
    assert not DownloadEvent.objects.exists()
    assert FileDelivery.objects.count() == 1


def test_deliver_again_adds_a_round(acting_api_as, staff_granted, identity, tmp_path):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    collected = collect(export_file)
    refused_delivery(collected, tmp_path)
    client = acting_api_as(staff_granted)
    response = client.post(f"/api/v1/files/{export_file.pk}/deliver-again")
    assert response.status_code == 202
    body = response.json()
    assert "will be delivered again to Slate SFTP" in body["detail"]
    [new] = body["deliveries"]
    assert (new["destination"], new["round"], new["state"], new["next_attempt_at"] is not None) == (
        "Slate SFTP",
        2,
        "pending",
        True,
    )
    assert collected.deliveries.get(round=2).requested_by == staff_granted
    # Asked again while that round waits: nothing more is added.
    again = client.post(f"/api/v1/files/{export_file.pk}/deliver-again")
    assert again.status_code == 202 and again.json()["deliveries"] == []
    assert collected.deliveries.count() == 2


def test_deliver_again_is_refused_in_words_for_a_file_not_archived(acting_api_as, admin_user, identity):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    response = acting_api_as(admin_user).post(f"/api/v1/files/{export_file.pk}/deliver-again")
    assert response.status_code == 409
    assert "is not in the archive (it has not been collected)" in response.json()["detail"]
    assert not FileDelivery.objects.exists()


def test_deliver_again_needs_a_token_made_to_act(api_as, admin_user, identity, tmp_path):
    export_file = make_file(identity, FileStatus.AVAILABLE)
    refused_delivery(collect(export_file), tmp_path)
    assert api_as(None).post(f"/api/v1/files/{export_file.pk}/deliver-again").status_code == 401
    # A read-only token (every token made before tokens could act) reads, and is refused here.
    read_only = api_as(admin_user)
    assert read_only.get(f"/api/v1/files/{export_file.pk}").status_code == 200
    assert read_only.post(f"/api/v1/files/{export_file.pk}/deliver-again").status_code == 401
    assert FileDelivery.objects.count() == 1


def test_the_tokens_page_makes_a_token_that_may_act_only_when_asked(client, staff_granted):
    client.force_login(staff_granted)
    page = client.get("/api/tokens/").content.decode()
    assert 'name="can_act"' in page
    client.post("/api/tokens/", {"name": "reads"})
    client.post("/api/tokens/", {"name": "acts", "can_act": "1"})
    assert dict(ApiToken.objects.values_list("name", "can_act")) == {"reads": False, "acts": True}
    assert "may act" in client.get("/api/tokens/").content.decode()


def test_the_list_says_which_files_need_attention(api_as, admin_user, identity, tmp_path):
    queued = make_file(identity, FileStatus.QUEUED)
    refused = make_file(identity, FileStatus.AVAILABLE)
    plain = make_file(identity, FileStatus.AVAILABLE)
    refused_delivery(collect(refused), tmp_path)
    items = {item["id"]: item for item in api_as(admin_user).get("/api/v1/files").json()["items"]}
    assert set(list(items)[:2]) == {queued.pk, refused.pk}  # needing attention, both first
    assert (items[queued.pk]["needs_attention"], items[queued.pk]["delivery_failed"]) == (True, False)
    assert (items[refused.pk]["needs_attention"], items[refused.pk]["delivery_failed"]) == (True, True)
    assert items[refused.pk]["archived"] is True
    assert (items[plain.pk]["needs_attention"], items[plain.pk]["archived"]) == (False, False)
