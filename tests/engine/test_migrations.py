"""Migrating a populated database forward: no row is lost, and the new columns are right for the data already
there (failures already re-run come out superseded, and sort with the settled files)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("dashboard", "0003_download_outcomes")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _populate(apps) -> dict[str, int]:
    """A database as 0003 left it: a credential, an identity, exports, runs in every state, history, downloads."""
    User = apps.get_model("auth", "User")
    Credential = apps.get_model("dashboard", "Credential")
    UserIdentity = apps.get_model("dashboard", "UserIdentity")
    Export = apps.get_model("dashboard", "Export")
    ExportFile = apps.get_model("dashboard", "ExportFile")
    StatusChange = apps.get_model("dashboard", "StatusChange")
    DownloadEvent = apps.get_model("dashboard", "DownloadEvent")
    now = timezone.now()
    user = User.objects.create(username="morgan")
    credential = Credential.objects.create(
        name="Nursing", base_url="https://api.webadmit.org", api_key_encrypted="opaque", api_key_last4="abcd"
    )
    identity = UserIdentity.objects.create(credential=credential, webadmit_id=2_147_483_659, association="SOPHAS")
    nightly = Export.objects.create(identity=identity, webadmit_id=335158, name="Nightly Banner Export")
    weekly = Export.objects.create(identity=identity, webadmit_id=335159, name="Weekly Roster")
    runs = [
        # (file id, export, status): nightly failed, then ran well; weekly's newest run failed.
        (101, nightly, "failed"),
        (102, nightly, "queued"),
        (103, nightly, "available"),
        (104, nightly, "empty_list"),
        (201, weekly, "available"),
        (202, weekly, "failed"),
        (203, weekly, "in_progress"),
    ]
    ids = {}
    for number, (file_id, export, status) in enumerate(runs):
        seen = now - timedelta(hours=10 - number)
        export_file = ExportFile.objects.create(
            identity=identity,
            webadmit_id=file_id,
            export_webadmit_id=export.webadmit_id,
            export=export,
            href=f"/api/v1/exports/{export.webadmit_id}/export_files/{file_id}",
            status=status,
            raw_status=status.replace("_", " ").title(),
            first_seen_at=seen,
            status_changed_at=seen,
        )
        StatusChange.objects.create(
            export_file=export_file, old_status="", new_status=status, raw_status=status, changed_at=seen
        )
        ids[file_id] = export_file.pk
    DownloadEvent.objects.create(
        user=user, export_file_id=ids[103], file_webadmit_id=103, outcome="redirected", created_at=now
    )
    return ids


def _counts(apps) -> dict[str, int]:
    return {
        name: apps.get_model("dashboard", name).objects.count()
        for name in ("Credential", "UserIdentity", "Export", "ExportFile", "StatusChange", "DownloadEvent")
    }


def test_a_populated_database_migrates_forward_losing_nothing_and_failures_already_rerun_come_out_superseded():
    old = _migrate(BEFORE)
    try:
        ids = _populate(old)
        before = _counts(old)
        old_ranks = dict(old.get_model("dashboard", "ExportFile").objects.values_list("webadmit_id", "attention_rank"))
        assert old_ranks[101] == 0, "before: every failure needs attention, re-run or not"

        new = _migrate(_latest())

        assert _counts(new) == before
        ExportFile = new.get_model("dashboard", "ExportFile")
        files = {f.webadmit_id: f for f in ExportFile.objects.all()}
        by_pk = {pk: file_id for file_id, pk in ids.items()}
        assert {file_id: by_pk.get(f.superseded_by_id) for file_id, f in files.items()} == {
            101: 103,  # failed, then the export ran well
            102: 103,  # never finished, and the export has since ran well
            103: None,
            104: None,  # matched no one, and nothing later ran well
            201: None,
            202: None,  # the newest failure of its export: still needs attention
            203: None,
        }
        assert {file_id: f.attention_rank for file_id, f in files.items()} == {
            101: 1,
            102: 1,
            103: 1,
            104: 1,
            201: 1,
            202: 0,
            203: 0,
        }
        assert not ExportFile.objects.filter(acknowledged_at__isnull=False).exists()
        assert new.get_model("dashboard", "RunRequest").objects.count() == 0
        # The history and the downloads still belong to their files.
        assert new.get_model("dashboard", "StatusChange").objects.filter(export_file_id=ids[101]).count() == 1
        assert new.get_model("dashboard", "DownloadEvent").objects.get().export_file_id == ids[103]
    finally:
        _migrate(_latest())  # leave the schema as the other tests expect it, whatever happened


def test_rows_from_before_pdf_manager_are_export_files_and_a_template_may_share_an_exports_id():
    old = _migrate([("dashboard", "0011_file_first_seen_order")])
    try:
        ids = _populate(old)

        new = _migrate(_latest())

        Export = new.get_model("dashboard", "Export")
        ExportFile = new.get_model("dashboard", "ExportFile")
        assert set(Export.objects.values_list("kind", flat=True)) == {"export"}
        assert set(ExportFile.objects.values_list("kind", flat=True)) == {"export"}
        assert not new.get_model("dashboard", "UserIdentity").objects.filter(watch_pdf_batches=True).exists()
        identity = new.get_model("dashboard", "UserIdentity").objects.get()
        # WebAdMIT numbers templates and batches apart from exports and files: the same ids, another kind.
        template = Export.objects.create(identity=identity, kind="pdf_batch", webadmit_id=335158, name="Transcripts")
        batch = ExportFile.objects.create(
            identity=identity,
            kind="pdf_batch",
            webadmit_id=101,
            export_webadmit_id=335158,
            export=template,
            href="/api/v1/user_identities/2147483659/pdf_manager_batches/101",
            status="available",
            raw_status="available",
        )
        new.get_model("dashboard", "BatchZip").objects.create(
            export_file=batch, zip_webadmit_id=287866, part=1, parts=1
        )
        assert ExportFile.objects.filter(webadmit_id=101).count() == 2
        assert ExportFile.objects.get(pk=ids[101]).kind == "export"
        with pytest.raises(IntegrityError), transaction.atomic():
            Export.objects.create(identity=identity, kind="pdf_batch", webadmit_id=335158, name="Twice")
        with pytest.raises(IntegrityError), transaction.atomic():
            ExportFile.objects.create(
                identity=identity, kind="export", webadmit_id=101, export_webadmit_id=1, href="/", status="queued"
            )
    finally:
        _migrate(_latest())
