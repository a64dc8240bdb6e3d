"""Refresh now and Run again: POST buttons, CSRF-checked, permission-checked, htmx-friendly."""

from __future__ import annotations

import json
import re

import pytest
import responses
from django.contrib.auth.models import User
from django.test import Client

from tests.support.factories import make_export, make_file
from webadmit_dash.core.models import Credential, ExportFile, RunRequest, UserIdentity
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/?status=failed"}


def messages_in(html: str) -> list[str]:
    return re.findall(r'<p class="message message--\w+">(.*?)</p>', html)


# --- Refresh now ------------------------------------------------------------------------------------------------


def test_refresh_now_queues_a_refresh_and_goes_back(client, staff_granted, identity):
    client.force_login(staff_granted)
    response = client.post(f"/identities/{identity.pk}/refresh/", {"next": "/?status=failed"})
    assert response.status_code == 302
    assert response["Location"] == "/?status=failed"
    assert UserIdentity.objects.get(pk=identity.pk).refresh_queued_at is not None
    page = client.get("/?status=failed").content.decode()
    assert "Refreshing SOPHAS · School of Public Health · 2026 - 2027" in page
    assert "refreshing…" in page


def test_refresh_now_by_htmx_answers_with_the_message_and_freshness_out_of_band(client, staff_granted, identity):
    client.force_login(staff_granted)
    response = client.post(f"/identities/{identity.pk}/refresh/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<div id="messages" class="messages" role="status" aria-live="polite" hx-swap-oob="true">' in html
    assert messages_in(html) == [
        "Refreshing SOPHAS · School of Public Health · 2026 - 2027: changes appear here in a few seconds."
    ]
    assert '<section id="sources"' in html and "refreshing…" in html


def test_refresh_now_twice_says_it_is_already_refreshing(client, staff_granted, identity):
    client.force_login(staff_granted)
    client.post(f"/identities/{identity.pk}/refresh/", **HTMX)
    html = client.post(f"/identities/{identity.pk}/refresh/", **HTMX).content.decode()
    assert messages_in(html) == ["SOPHAS · School of Public Health · 2026 - 2027 is already being refreshed."]


def test_refresh_now_of_a_paused_identity_says_why(client, staff_granted, identity):
    UserIdentity.objects.filter(pk=identity.pk).update(paused=True, error_kind="key_rejected")
    client.force_login(staff_granted)
    html = client.post(f"/identities/{identity.pk}/refresh/", **HTMX).content.decode()
    assert "is paused until its problem is fixed (API key rejected)" in messages_in(html)[0]
    assert UserIdentity.objects.get(pk=identity.pk).refresh_queued_at is None


def test_refresh_now_of_another_identity_is_a_404(client, staff_granted, staff_none, other_identity):
    for user in (staff_granted, staff_none):
        client.force_login(user)
        assert client.post(f"/identities/{other_identity.pk}/refresh/").status_code == 404
    assert UserIdentity.objects.get(pk=other_identity.pk).refresh_queued_at is None


def test_refresh_now_needs_post_and_a_csrf_token(staff_granted, identity):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_granted)
    assert client.get(f"/identities/{identity.pk}/refresh/").status_code == 405
    assert client.post(f"/identities/{identity.pk}/refresh/").status_code == 403
    page = client.get("/").content.decode()
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post(f"/identities/{identity.pk}/refresh/", HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200


def test_refresh_and_run_again_buttons_disable_themselves_while_in_flight(client, staff_granted, identity):
    make_file(identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    html = client.get("/").content.decode()
    # Refresh now, Acknowledge, and Run again (whose dialog posts by htmx with its form as the source).
    assert html.count('hx-disabled-elt="find button"') == 3


# --- Run again --------------------------------------------------------------------------------------------------


@pytest.fixture
def finished_sim_file(sim_identity, world):
    state = world.files(sim_identity.webadmit_id)[0]
    world.force_status(state.id, "Failed")
    upstream_export = world.export(state.export_id)
    export = make_export(sim_identity, upstream_export.id, upstream_export.name)
    return make_file(sim_identity, FileStatus.FAILED, webadmit_id=state.id, export=export)


def test_run_again_starts_a_new_run_in_webadmit(client, admin_user, finished_sim_file, world, sim_identity):
    before = {state.id for state in world.files(sim_identity.webadmit_id)}
    client.force_login(admin_user)
    response = client.post(f"/files/{finished_sim_file.pk}/run-again/", **HTMX)
    html = response.content.decode()
    new = {state.id for state in world.files(sim_identity.webadmit_id)} - before
    assert len(new) == 1
    (new_id,) = new
    assert messages_in(html) == [
        f"WebAdMIT is running {finished_sim_file.export.name} as file {new_id} (Initializing)."
    ]
    # The identity switches to its fast cadence so the new file's progress shows within seconds.
    identity = UserIdentity.objects.get(pk=sim_identity.pk)
    assert identity.run_started_at is not None
    # The run is stored at once, and the page is told to poll for it now.
    run = ExportFile.objects.get(identity=sim_identity, webadmit_id=new_id)
    assert (run.status, run.export_id) == ("initializing", finished_sim_file.export_id)
    assert run.status_changes.get().new_status == "initializing"
    assert json.loads(response["HX-Trigger"]) == {"files-changed": {"target": "body"}}
    # Who asked, from which file, and which run WebAdMIT returned, for the record.
    audit = RunRequest.objects.get()
    assert (audit.user, audit.requested_from, audit.file_webadmit_id) == (
        admin_user,
        finished_sim_file,
        finished_sim_file.webadmit_id,
    )
    assert (audit.run, audit.run_webadmit_id, audit.already_running) == (run, new_id, False)


def test_run_again_of_a_run_already_under_way_says_so(client, admin_user, finished_sim_file, world, sim_identity):
    client.force_login(admin_user)
    client.post(f"/files/{finished_sim_file.pk}/run-again/", **HTMX)
    new_id = world.files(sim_identity.webadmit_id)[0].id
    html = client.post(f"/files/{finished_sim_file.pk}/run-again/", **HTMX).content.decode()
    assert messages_in(html) == [f"{finished_sim_file.export.name} is already running as file {new_id} (Initializing)."]
    # One row for the run, and both requests on record, the second as answered with the run already under way.
    assert ExportFile.objects.filter(webadmit_id=new_id).count() == 1
    assert list(RunRequest.objects.order_by("created_at").values_list("run_webadmit_id", "already_running")) == [
        (new_id, False),
        (new_id, True),
    ]


def test_run_again_when_webadmit_refuses_says_what_went_wrong(client, admin_user, finished_sim_file, world):
    world.add_fault("key_rejected")
    client.force_login(admin_user)
    response = client.post(f"/files/{finished_sim_file.pk}/run-again/", **HTMX)
    assert response.status_code == 200  # htmx swaps only successful answers, and the message is the answer
    (message,) = messages_in(response.content.decode())
    assert message.startswith(f"Could not start {finished_sim_file.export.name}: WebAdMIT rejected the API key")
    assert Credential.objects.get().health == Credential.Health.KEY_REJECTED
    # Refused requests are on record too, with WebAdMIT's reason and no run.
    audit = RunRequest.objects.get()
    assert (audit.user, audit.run, audit.run_webadmit_id) == (admin_user, None, None)
    assert "rejected the API key" in audit.message


def test_run_again_without_htmx_goes_back_with_a_message(client, admin_user, finished_sim_file):
    client.force_login(admin_user)
    response = client.post(f"/files/{finished_sim_file.pk}/run-again/", {"next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert "WebAdMIT is running" in client.get("/").content.decode()


def test_run_again_of_another_identitys_file_is_a_404_without_calling_webadmit(client, staff_granted, other_identity):
    theirs = make_file(other_identity, FileStatus.FAILED)
    client.force_login(staff_granted)
    with responses.RequestsMock() as upstream:
        assert client.post(f"/files/{theirs.pk}/run-again/").status_code == 404
        assert len(upstream.calls) == 0


def test_actions_need_sign_in(client, identity):
    export_file = make_file(identity, FileStatus.FAILED)
    assert client.post(f"/files/{export_file.pk}/run-again/")["Location"].startswith("/accounts/login/")
    response = client.post(f"/identities/{identity.pk}/refresh/", **HTMX)
    assert response["HX-Redirect"].startswith("/accounts/login/")
    assert not User.objects.exists()


def test_refresh_now_from_the_identities_page_answers_with_the_message_only(client, staff_granted, identity):
    client.force_login(staff_granted)
    html = client.post(
        f"/identities/{identity.pk}/refresh/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/identities/",
    ).content.decode()
    assert messages_in(html)
    assert 'id="sources"' not in html  # that page has no freshness strip to swap
