"""The admin: what the engine writes is read-only there (no Add: its page refused, GET or POST, never a 500), and
the credential form shows the key once, write-only, and the engine's fields only once they have values."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.conftest import TEST_API_KEY
from tests.support.factories import make_file
from webadmit_dash.core.models import (
    Credential,
    DownloadEvent,
    Export,
    ExportFile,
    RunRequest,
    StatusChange,
)
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

ENGINE_OWNED = [Export, ExportFile, StatusChange, DownloadEvent, RunRequest]


@pytest.fixture
def signed_in_admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def records(identity, admin_user):
    export_file = make_file(identity, FileStatus.FAILED)
    StatusChange.objects.create(export_file=export_file, new_status="failed", raw_status="Failed")
    DownloadEvent.objects.create(
        user=admin_user, export_file=export_file, file_webadmit_id=export_file.webadmit_id, outcome="not_downloadable"
    )
    RunRequest.objects.create(
        user=admin_user,
        identity=identity,
        requested_from=export_file,
        file_webadmit_id=export_file.webadmit_id,
        export_webadmit_id=export_file.export_webadmit_id,
        message="WebAdMIT rejected the API key",
    )
    return {model: model.objects.get() for model in ENGINE_OWNED}


@pytest.mark.parametrize("model", ENGINE_OWNED, ids=lambda model: model.__name__)
def test_engine_owned_records_have_no_add_whether_asked_by_get_or_post(signed_in_admin, records, model):
    name = model._meta.model_name
    add = reverse(f"admin:dashboard_{name}_add")
    before = model.objects.count()

    assert signed_in_admin.get(add).status_code == 403
    assert signed_in_admin.post(add, {"webadmit_id": "1", "name": "Hand-made"}).status_code == 403
    assert model.objects.count() == before

    changelist = signed_in_admin.get(reverse(f"admin:dashboard_{name}_changelist"))
    assert changelist.status_code == 200
    assert f'href="{add}"' not in changelist.content.decode()


@pytest.mark.parametrize("model", ENGINE_OWNED, ids=lambda model: model.__name__)
def test_engine_owned_records_can_be_looked_at_but_not_changed(signed_in_admin, records, model):
    record = records[model]
    change = reverse(f"admin:dashboard_{model._meta.model_name}_change", args=[record.pk])
    page = signed_in_admin.get(change)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html, "a view page, with nothing to save"
    assert signed_in_admin.post(change, {}).status_code == 403


def test_the_add_credential_form_shows_the_key_once_and_no_engine_fields(signed_in_admin):
    html = signed_in_admin.get(reverse("admin:dashboard_credential_add")).content.decode()
    assert html.count(">API key") == 1
    assert 'type="password" name="api_key"' in html
    assert "(not set)" not in html
    for engine_label in ("Health", "Last error", "Last checked", "Rate limit remaining"):
        assert f">{engine_label}" not in html, engine_label
    assert "Rate limit per hour" in html  # a setting, not engine state


def test_the_change_credential_form_masks_the_current_key_and_shows_engine_fields_once_they_have_values(
    signed_in_admin, credential
):
    change = reverse("admin:dashboard_credential_change", args=[credential.pk])
    html = signed_in_admin.get(change).content.decode()
    assert html.count(">API key") == 1
    assert f"Current key: ••••••••{TEST_API_KEY[-4:]}. Enter a new one to replace it; leave blank to keep it." in html
    assert TEST_API_KEY not in html and credential.api_key_encrypted not in html
    assert not re.search(r'name="api_key"[^>]*value=', html), "the key is never rendered back"
    for engine_label in ("Health", "Last error", "Last checked", "Rate limit remaining"):
        assert f">{engine_label}" not in html, engine_label

    Credential.objects.filter(pk=credential.pk).update(
        health=Credential.Health.KEY_REJECTED, last_error="WebAdMIT answered 401", last_checked_at=timezone.now()
    )
    html = signed_in_admin.get(change).content.decode()
    assert ">Health" in html and "Key rejected" in html
    assert ">Last error" in html and "WebAdMIT answered 401" in html
    assert ">Last checked at" in html
    assert ">Rate limit remaining" not in html


def test_saving_a_credential_without_a_new_key_keeps_the_old_one(signed_in_admin, credential):
    change = reverse("admin:dashboard_credential_change", args=[credential.pk])
    response = signed_in_admin.post(
        change,
        {"name": "Nursing (renamed)", "base_url": credential.base_url, "api_key": "", "rate_limit_per_hour": 4000},
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.name == "Nursing (renamed)" and credential.get_api_key() == TEST_API_KEY
