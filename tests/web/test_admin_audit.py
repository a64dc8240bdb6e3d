"""The audit in the admin: rows say who, which identity, which export and which file by name, and no one, not even a
superuser, edits or deletes one there (no delete page, no delete action). And an identity's fields that WebAdMIT
supplies are read-only on its page, while staff's own (label, enabled, cadences) stay editable."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from tests.support.factories import make_export, make_file
from webadmit_dash.api.models import ApiToken
from webadmit_dash.collection.models import CollectedFile
from webadmit_dash.core.models import DownloadEvent, ExportFile, RunRequest, StatusChange, UserIdentity
from webadmit_dash.shared.admin_base import ReadOnlyAdmin
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

AUDIT_ADMINS = sorted(
    (
        model
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, ReadOnlyAdmin) or model in (ApiToken, CollectedFile)
    ),
    key=lambda model: model._meta.label,
)


@pytest.fixture
def audit(identity, admin_user):
    export = make_export(identity, 29_897, "Interview Roster \u2013 Café Session")
    export_file = make_file(identity, FileStatus.FAILED, webadmit_id=207_434, export=export)
    StatusChange.objects.create(export_file=export_file, old_status="queued", new_status="failed", raw_status="Failed")
    DownloadEvent.objects.create(
        user=admin_user, export_file=export_file, file_webadmit_id=207_434, outcome="not_downloadable"
    )
    RunRequest.objects.create(
        user=None,
        identity=identity,
        requested_from=export_file,
        file_webadmit_id=207_434,
        export_webadmit_id=29_897,
        source=RunRequest.Source.SCHEDULE,
        source_label="Nightly at 06:00",
        message="WebAdMIT rejected the API key",
    )
    return export_file


@pytest.mark.parametrize("model", AUDIT_ADMINS, ids=lambda model: model._meta.label)
def test_no_superuser_may_delete_audit_rows_in_the_admin(admin_user, model):
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = admin_user

    assert not model_admin.has_delete_permission(request)
    assert not model_admin.has_delete_permission(request, model())
    assert "delete_selected" not in model_admin.get_actions(request)


def test_the_audit_models_are_all_among_them():
    assert {DownloadEvent, RunRequest, StatusChange, ExportFile, ApiToken}.issubset(set(AUDIT_ADMINS))
    assert {"notifications.Delivery", "notifications.Event", "collection.FileDelivery", "schedules.ScheduledRun"} <= {
        model._meta.label for model in AUDIT_ADMINS
    }


@pytest.mark.parametrize("model", [DownloadEvent, RunRequest, StatusChange], ids=lambda model: model.__name__)
def test_deleting_or_changing_an_audit_row_by_hand_is_refused(admin_client, audit, model):
    row = model.objects.get()
    name = model._meta.model_name

    assert admin_client.get(reverse(f"admin:dashboard_{name}_delete", args=[row.pk])).status_code == 403
    assert (
        admin_client.post(reverse(f"admin:dashboard_{name}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    )
    admin_client.post(
        reverse(f"admin:dashboard_{name}_changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )
    assert (
        admin_client.post(reverse(f"admin:dashboard_{name}_change", args=[row.pk]), {"message": "x"}).status_code == 403
    )
    assert model.objects.filter(pk=row.pk).exists()


def test_audit_lists_name_the_person_identity_export_and_file(admin_client, audit, identity):
    for name in ("downloadevent", "runrequest", "statuschange"):
        page = admin_client.get(reverse(f"admin:dashboard_{name}_changelist")).content.decode()
        assert "Interview Roster \u2013 Café Session · file 207434" in page, name
        assert identity.display_name in page, name
    downloads = admin_client.get(reverse("admin:dashboard_downloadevent_changelist")).content.decode()
    assert ">alice<" in downloads
    runs = admin_client.get(reverse("admin:dashboard_runrequest_changelist")).content.decode()
    assert "Schedule: Nightly at 06:00" in runs
    assert "export 29897" not in runs.lower()


def test_an_audit_rows_own_page_names_them_too(admin_client, audit, identity):
    event = DownloadEvent.objects.get()
    page = admin_client.get(reverse("admin:dashboard_downloadevent_change", args=[event.pk])).content.decode()
    assert "Interview Roster \u2013 Café Session · file 207434" in page and identity.display_name in page


def test_a_download_of_a_file_no_longer_kept_says_so(admin_client, audit):
    ExportFile.objects.all().delete()
    page = admin_client.get(reverse("admin:dashboard_downloadevent_changelist")).content.decode()
    assert "File 207434 (no longer kept here)" in page


# An identity's page


def test_webadmits_identity_fields_are_read_only_and_the_label_editable(admin_client, identity, credential):
    url = reverse("admin:dashboard_useridentity_change", args=[identity.pk])
    form = admin_client.get(url).context["adminform"].form
    assert {"association", "cycle", "webadmit_id", "organization", "institution", "type", "credential"}.isdisjoint(
        form.fields
    )
    assert {"label", "enabled", "fast_interval", "slow_interval"} <= set(form.fields)

    response = admin_client.post(
        url,
        {
            "label": "Public Health (ours)",
            "enabled": "on",
            "association": "Hacked",
            "cycle": "1999",
            "webadmit_id": "1",
            "grants-TOTAL_FORMS": "0",
            "grants-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    identity = UserIdentity.objects.get(pk=identity.pk)
    assert identity.label == "Public Health (ours)"
    assert (identity.association, identity.cycle, identity.webadmit_id) == ("SOPHAS", "2026 - 2027", 2_147_483_659)


def test_watching_pdf_manager_batches_is_chosen_per_identity_saying_what_it_costs(admin_client, identity):
    url = reverse("admin:dashboard_useridentity_change", args=[identity.pk])
    form = admin_client.get(url).context["adminform"].form
    assert "one more WebAdMIT call" in form.fields["watch_pdf_batches"].help_text
    assert form.initial["watch_pdf_batches"] is False

    response = admin_client.post(
        url,
        {"enabled": "on", "watch_pdf_batches": "on", "grants-TOTAL_FORMS": "0", "grants-INITIAL_FORMS": "0"},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    assert UserIdentity.objects.get(pk=identity.pk).watch_pdf_batches


def test_an_identity_made_by_hand_names_itself_on_its_add_page(admin_client):
    form = admin_client.get(reverse("admin:dashboard_useridentity_add")).context["adminform"].form
    assert {"association", "cycle", "webadmit_id", "credential"} <= set(form.fields)
