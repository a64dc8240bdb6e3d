"""Factories for the tests' rows: files and exports as the refresh engine stores them, listings as WebAdMIT answers
them, and notification subscriptions with what the notifications page posts for one."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from webadmit_dash.core.models import ChangeCounter, Export, ExportFile, IdentityGrant, Kind, UserIdentity
from webadmit_dash.notifications.models import EventKind, Subscription
from webadmit_dash.webadmit import ExportFile as UpstreamFile
from webadmit_dash.webadmit import PdfManagerBatch, PdfManagerTemplateRef, parse_batch_state, parse_status
from webadmit_dash.webadmit.statuses import FileStatus

EXPORT_ID = 335158
OTHER_EXPORT_ID = 10_000_000_000_001  # 14-digit ids exist
_file_ids = itertools.count(300_001)


def make_export(
    identity: UserIdentity, webadmit_id: int, name: str = "Nightly Banner Export", kind: Kind = Kind.EXPORT
) -> Export:
    """An export, or (of kind PDF_BATCH) a PDF Manager template."""
    if kind == Kind.EXPORT:
        defaults = {"name": name, "format": "Comma-Separated Values", "mime_type": "text/csv;charset=iso-8859-1"}
    else:
        defaults = {"name": name, "list_name": "Complete Applications", "document_source_title": "Transcript"}
    export, _ = Export.objects.get_or_create(identity=identity, kind=kind, webadmit_id=webadmit_id, defaults=defaults)
    return export


def make_file(
    identity: UserIdentity,
    status: FileStatus | str = FileStatus.AVAILABLE,
    *,
    webadmit_id: int | None = None,
    export: Export | None = None,
    first_seen_at: datetime | None = None,
    gone: bool = False,
) -> ExportFile:
    """A file (or, with a template as `export`, a PDF Manager batch) as the refresh engine would have stored it,
    stamped with a new change sequence."""
    status = FileStatus(status)
    export = export or make_export(identity, 29_897)
    if export.kind == Kind.PDF_BATCH:  # a batch's state, as P4 spells it
        raw_status = "archived" if status is FileStatus.UNKNOWN else status.value
        href = f"/api/v1/user_identities/{identity.webadmit_id}/pdf_manager_batches/0"
    else:
        raw_status = "Archived" if status is FileStatus.UNKNOWN else status.label
        href = f"/api/v1/exports/{export.webadmit_id}/export_files/0"
    seen = first_seen_at or timezone.now() - timedelta(minutes=5)
    seq = ChangeCounter.next_value()
    export_file = ExportFile.objects.create(
        identity=identity,
        kind=export.kind,
        webadmit_id=webadmit_id or next(_file_ids),
        export_webadmit_id=export.webadmit_id,
        export=export,
        href=href,
        status=status,
        raw_status=raw_status,
        first_seen_at=seen,
        status_changed_at=seen,
        gone_at=timezone.now() if gone else None,
        change_seq=seq,
    )
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=seq)
    identity.change_seq = seq
    return ExportFile.objects.get(pk=export_file.pk)  # reloaded for the generated attention_rank


def change_status(export_file: ExportFile, status: FileStatus | str) -> ExportFile:
    """What the engine does when a listing shows a new status: the file and its identity get a new sequence."""
    seq = ChangeCounter.next_value()
    status = FileStatus(status)
    ExportFile.objects.filter(pk=export_file.pk).update(
        status=status, raw_status=status.label, status_changed_at=timezone.now(), change_seq=seq
    )
    UserIdentity.objects.filter(pk=export_file.identity_id).update(change_seq=seq)
    return ExportFile.objects.get(pk=export_file.pk)


def listed(file_id: int, raw_status: str, export_id: int = EXPORT_ID) -> UpstreamFile:
    return UpstreamFile(
        id=file_id,
        href=f"/api/v1/exports/{export_id}/export_files/{file_id}",
        export_id=export_id,
        status=parse_status(raw_status),
        raw_status=raw_status,
    )


def batch_listed(batch_id: int, raw_state: str, template_id: int = EXPORT_ID) -> PdfManagerBatch:
    """A batch as P4 lists it (no zips named)."""
    return PdfManagerBatch(
        id=batch_id,
        href=f"/api/v1/user_identities/1/pdf_manager_batches/{batch_id}",
        state=parse_batch_state(raw_state),
        raw_state=raw_state,
        updated_at=timezone.now(),
        template=PdfManagerTemplateRef(id=template_id, name="Transcripts", href=None),
        download_hrefs=None,
        zip_file_ids=(),
    )


def grant(user: User, identity: UserIdentity) -> None:
    IdentityGrant.objects.get_or_create(identity=identity, user=user)


def subscribe(user: User, **fields) -> Subscription:
    identities = fields.pop("identities", None)
    webhooks = fields.pop("webhooks", None)
    fields.setdefault("events", list(EventKind.values))
    subscription = Subscription.objects.create(user=user, all_identities=identities is None, **fields)
    if identities:
        subscription.identities.set(identities)
    if webhooks:
        subscription.webhooks.set(webhooks)
    return subscription


def subscription_form(**fields) -> dict[str, object]:
    """What the notifications page posts for a new subscription (everything, at once, by mail), with `fields`."""
    data: dict[str, object] = {
        "scope": "all",
        "events": ["available", "failed"],
        "delivery": "immediate",
        "email": "on",
    }
    data.update(fields)
    return data
