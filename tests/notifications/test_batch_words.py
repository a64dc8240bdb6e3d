"""A PDF Manager batch's notifications say "PDF Manager batch … ready", not "file … ready to download"."""

from __future__ import annotations

import pytest

from tests.support.factories import EXPORT_ID, make_export, make_file
from webadmit_dash.core.models import Kind
from webadmit_dash.notifications import words
from webadmit_dash.notifications.models import Event, EventKind
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


def event_of(export_file, kind: EventKind) -> Event:
    return Event(
        kind=kind,
        key=f"test:{export_file.pk}:{kind}",
        identity=export_file.identity,
        export_file=export_file,
        file_webadmit_id=export_file.webadmit_id,
        export_name=export_file.export_name,
        identity_name="SOPHAS 2026 - 2027",
        status=export_file.status,
    )


def test_a_ready_batch_is_told_as_a_pdf_manager_batch_with_zips(identity):
    template = make_export(identity, EXPORT_ID, "Transcripts", kind=Kind.PDF_BATCH)
    batch = make_file(identity, FileStatus.AVAILABLE, export=template, webadmit_id=6348)
    told = words.tell(event_of(batch, EventKind.AVAILABLE))
    assert told.headline == "Ready: PDF Manager batch Transcripts · SOPHAS 2026 - 2027"
    assert told.sentence == (
        "PDF Manager batch “Transcripts” (batch 6348) for SOPHAS 2026 - 2027 is ready: its zips can be downloaded on "
        "the dashboard."
    )
    assert "file" not in told.sentence and told.link.endswith(f"/files/{batch.pk}/")


@pytest.mark.parametrize("kind", list(words.BATCH_SENTENCE))
def test_every_file_event_of_a_batch_has_batch_words(identity, kind):
    template = make_export(identity, EXPORT_ID, "Transcripts", kind=Kind.PDF_BATCH)
    batch = make_file(identity, FileStatus.FAILED, export=template)
    told = words.tell(event_of(batch, kind))
    assert "PDF Manager batch" in told.headline and "the file" not in told.sentence


def test_an_export_files_words_are_unchanged(identity):
    export_file = make_file(identity, FileStatus.AVAILABLE, export=make_export(identity, EXPORT_ID))
    told = words.tell(event_of(export_file, EventKind.AVAILABLE))
    assert told.headline.startswith("Ready: Nightly Banner Export")
    assert "its file is ready to download" in told.sentence
