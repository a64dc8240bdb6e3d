"""Export files and PDF Manager batches share a table, never a meaning: WebAdMIT numbers files and batches (exports and
templates) apart, so an export and a template with the same id, and a file and a batch with the same id, live side by
side and never touch each other (listing, gone, superseding, names, the stuck figure, the doors that call E4 and E5).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.support.factories import EXPORT_ID, batch_listed, listed, make_export, make_file
from webadmit_dash.collection.models import CollectionRule
from webadmit_dash.core import stuck
from webadmit_dash.core.models import Export, ExportFile, Kind
from webadmit_dash.engine import apply, collecting, downloads, on_demand, pdf_batches
from webadmit_dash.web import bulk
from webadmit_dash.webadmit import BatchState, FileStatus, PdfManagerTemplate, RequestRejected

pytestmark = pytest.mark.django_db


def apply_batches(identity, batches, now):
    plan = apply.plan_listing(identity, pdf_batches.as_listing(batches), Kind.PDF_BATCH)
    return apply.apply_plan(plan, now)


def test_each_batch_state_is_kept_as_the_file_status_of_the_same_word():
    assert {state: pdf_batches.status_of(state) for state in BatchState} == {
        state: FileStatus(state.value) for state in BatchState
    }
    assert pdf_batches.status_of(BatchState.UNKNOWN) is FileStatus.UNKNOWN


def test_a_file_and_a_batch_with_the_same_ids_live_side_by_side_and_never_mix(identity):
    now = timezone.now()
    export = make_export(identity, EXPORT_ID, "Nightly Banner Export")
    template = PdfManagerTemplate(EXPORT_ID, "/t", "Transcripts", "Complete Applications", "Official Transcript")
    apply.apply_templates(identity, [template], now)
    apply.apply_listing(identity, [listed(7, "Failed"), listed(8, "Queued")], now)

    result = apply_batches(identity, [batch_listed(7, "available"), batch_listed(9, "failed")], now)

    assert result.created == 2
    file = ExportFile.objects.get(kind=Kind.EXPORT, webadmit_id=7)
    batch = ExportFile.objects.get(kind=Kind.PDF_BATCH, webadmit_id=7)
    assert file.export == export and file.export.kind == Kind.EXPORT
    assert batch.export.kind == Kind.PDF_BATCH and batch.export.list_name == "Complete Applications"
    assert Export.objects.filter(identity=identity, webadmit_id=EXPORT_ID).count() == 2
    assert file.superseded_by_id is None, "a good batch of a template with the export's id supersedes no file"
    assert file.export_runs().count() == 2 and batch.export_runs().count() == 2

    later = now + timedelta(minutes=1)
    apply.apply_listing(identity, [listed(8, "In Progress")], later)  # file 7 dropped off Recent Files
    assert ExportFile.objects.get(kind=Kind.EXPORT, webadmit_id=7).gone_at == later
    assert not ExportFile.objects.filter(kind=Kind.PDF_BATCH, gone_at__isnull=False).exists(), "batches untouched"

    apply_batches(identity, [batch_listed(7, "available")], later)  # batch 9 dropped off PDF Manager's list
    assert ExportFile.objects.get(kind=Kind.PDF_BATCH, webadmit_id=9).gone_at == later
    assert ExportFile.objects.get(kind=Kind.EXPORT, webadmit_id=8).gone_at is None


def test_a_renamed_template_re_renders_its_batches_only(identity):
    now = timezone.now()
    make_export(identity, EXPORT_ID)
    template = PdfManagerTemplate(EXPORT_ID, "/t", "Transcripts", "Complete Applications", "Official Transcript")
    apply.apply_templates(identity, [template], now)
    file = make_file(identity, export=Export.objects.get(kind=Kind.EXPORT))
    batch = make_file(identity, export=Export.objects.get(kind=Kind.PDF_BATCH), webadmit_id=file.webadmit_id)

    renamed = PdfManagerTemplate(EXPORT_ID, "/t", "Transcripts (all)", "Complete Applications", "Official Transcript")
    result = apply.apply_templates(identity, [renamed], now)

    assert result.renamed == 1
    assert ExportFile.objects.get(pk=batch.pk).change_seq > batch.change_seq
    assert ExportFile.objects.get(pk=file.pk).change_seq == file.change_seq
    assert Export.objects.get(kind=Kind.EXPORT).name == "Nightly Banner Export"


def test_the_stuck_figure_of_an_export_is_not_a_templates(identity):
    export = make_export(identity, EXPORT_ID)
    template = make_export(identity, EXPORT_ID, "Transcripts", kind=Kind.PDF_BATCH)
    run = make_file(identity, FileStatus.QUEUED, export=export)
    batch = make_file(identity, FileStatus.QUEUED, export=template, webadmit_id=run.webadmit_id)

    assert stuck.key_of(run) != stuck.key_of(batch)
    assert stuck.key_of(batch) == stuck.key_of_export(template)


def test_schedules_bulk_run_again_and_export_download_never_ask_e4_or_e5_about_a_batch(identity, admin_user: User):
    """(A batch's own Run again starts a new batch through P3: tests/engine/test_batch_run_again.py.)"""
    template = make_export(identity, EXPORT_ID, "Transcripts", kind=Kind.PDF_BATCH)
    batch = make_file(identity, FileStatus.AVAILABLE, export=template)

    # No WebAdMIT is reachable here (api.webadmit.org is not called in tests): any call would fail otherwise.
    with pytest.raises(RequestRejected):
        on_demand.start_scheduled_run(template, "Weekdays at 06:00")
    attempt = downloads.prepare_download(batch, admin_user)
    assert (attempt.url, attempt.http_status) == (None, 409) and "PDF Manager batch" in attempt.message
    assert bulk.runs_to_start([batch]).skipped == {bulk.NOT_AN_EXPORT: 1}


def test_collection_rules_cover_batches_by_their_template_and_never_ask_e5_about_one(identity):
    """A batch is collected zip by zip through P6 (tests/collection/test_batches.py), never through E5."""
    template = make_export(identity, EXPORT_ID, "Transcripts", kind=Kind.PDF_BATCH)
    file = make_file(identity, FileStatus.AVAILABLE)
    batch = make_file(identity, FileStatus.AVAILABLE, export=template)
    rule = CollectionRule(identity=identity, since=timezone.now() - timedelta(days=1))

    assert set(ExportFile.objects.filter(rule.files())) == {file, batch}
    assert CollectionRule(identity=identity, export_name="transcripts").covers(batch)
    with pytest.raises(RequestRejected):
        collecting.download_link(batch)  # no WebAdMIT is reachable here: a call would fail otherwise
