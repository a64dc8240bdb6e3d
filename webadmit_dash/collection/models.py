"""What collection knows: which files to collect (rules), what was collected (the archive's records), where files go
(destinations) and each delivery of one file to one destination (a FileDelivery: notifications' Delivery is a message).

Rules choose files by what staff see (an identity, a CAS, a cycle, an export's name, or one export), so a rule by
CAS and export name covers next cycle's identities without anyone touching it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from webadmit_dash.collection.naming import DEFAULT_TEMPLATE
from webadmit_dash.core import crypto
from webadmit_dash.core.models import Export, ExportFile, UserIdentity


def _a_day_ago() -> Any:
    return timezone.now() - timedelta(days=1)


class FileMatch(models.Model):
    """Which export files a rule covers: every condition filled in must hold (blank ones match anything)."""

    identity = models.ForeignKey(
        UserIdentity, on_delete=models.CASCADE, null=True, blank=True, related_name="+", help_text="One identity only."
    )
    association = models.CharField(
        max_length=200, blank=True, help_text="The CAS, e.g. NursingCAS: covers every cycle's identities, next's too."
    )
    cycle = models.CharField(max_length=50, blank=True, help_text="e.g. 2026 - 2027")
    export_name = models.CharField(
        max_length=300, blank=True, help_text="The export's name exactly as WebAdMIT shows it (any letter case)."
    )
    export = models.ForeignKey(
        Export, on_delete=models.CASCADE, null=True, blank=True, related_name="+", help_text="One export only."
    )
    # Files that became ready before this are left alone, so a new rule does not fetch a whole history.
    since = models.DateTimeField(
        default=_a_day_ago, help_text="Files that became ready before this are not collected (default: a day ago)."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        # A new or changed rule may cover files already looked at: the next scan looks at every file again.
        ScanMark.objects.update_or_create(pk=1, defaults={"change_seq": 0})

    def files(self) -> Q:
        """The condition on ExportFile rows this rule covers: export files, and PDF Manager batches by their template
        (the batch's Export row, whose name, identity, CAS and cycle a rule reads as it reads an export's)."""
        condition = Q(status_changed_at__gte=self.since)
        if self.identity_id is not None:
            condition &= Q(identity_id=self.identity_id)
        if self.association:
            condition &= Q(identity__association__iexact=self.association)
        if self.cycle:
            condition &= Q(identity__cycle__iexact=self.cycle)
        if self.export_name:
            condition &= Q(export__name__iexact=self.export_name)
        if self.export_id is not None:
            condition &= Q(export_id=self.export_id)
        return condition

    def covers(self, export_file: ExportFile) -> bool:
        return ExportFile.objects.filter(self.files(), pk=export_file.pk).exists()

    def described(self) -> str:
        parts = []
        if self.export_id is not None:
            parts.append(f"export “{self.export}”")
        if self.export_name:
            parts.append(f"exports named “{self.export_name}”")
        if self.identity_id is not None:
            parts.append(f"identity {self.identity}")
        if self.association:
            parts.append(f"CAS {self.association}")
        if self.cycle:
            parts.append(f"cycle {self.cycle}")
        return ", ".join(parts) or "every export"

    def clean(self) -> None:
        if not (self.identity_id or self.association or self.cycle or self.export_name or self.export_id):
            raise ValidationError(
                "Choose what the rule covers: an export, an export name, an identity, a CAS or a cycle. "
                "(A rule covering every file of every identity is almost never meant.)"
            )


class ScanMark(models.Model):
    """How far the scan for ready files has read ExportFile.change_seq (one row): an idle scan is one indexed query
    for files changed since, however many files there are. Values commit in order (ChangeCounter), so none is
    skipped."""

    change_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"Scanned up to change #{self.change_seq}"


class CollectionRule(FileMatch):
    """Files to fetch once they are ready and keep in the archive. (A delivery rule collects its files too.)"""

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Collect {self.described()}"


class CollectedFile(models.Model):
    """One file fetched from WebAdMIT into the archive (or on its way there), with the proof of what was kept.

    It outlives its ExportFile row (WebAdMIT forgets files; the engine prunes them): the identity, ids and names
    needed to check permissions and name the file are copied here.

    A PDF Manager batch is several pieces, each one row: one per zip (`part` of `parts`, fetched through P6), and
    its index CSV when a delivery rule asks for one (made from the archived zips' directories). A row per piece,
    rather than a child table of zips, because each zip is a file in every way collection cares about: its own
    download, proof, retries, claim, retention and deliveries (FileDelivery names one row). So the collector, the
    claims, the transports, pruning and serving work on zips unchanged; only the source of the bytes differs.
    """

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting to be collected"
        COLLECTED = "collected", "Collected"
        FAILED = "failed", "Collection failed"
        PRUNED = "pruned", "Pruned"

    class Piece(models.TextChoices):
        FILE = "file", "Export file"  # E5
        ZIP = "zip", "Zip of a batch"  # P6
        INDEX = "index", "Index of a batch's zips"  # made from the archived zips

    export_file = models.ForeignKey(
        ExportFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="collected_pieces"
    )
    piece = models.CharField(max_length=5, choices=Piece.choices, default=Piece.FILE)
    # A zip's place among its batch's zips (BatchZip, copied: this row outlives it); null for any other piece.
    zip_webadmit_id = models.BigIntegerField("WebAdMIT zip file id", null=True, blank=True)
    part = models.PositiveSmallIntegerField(null=True, blank=True)
    parts = models.PositiveSmallIntegerField(null=True, blank=True)
    identity = models.ForeignKey(UserIdentity, on_delete=models.CASCADE, related_name="+")
    file_webadmit_id = models.BigIntegerField("WebAdMIT file id")
    export_webadmit_id = models.BigIntegerField("WebAdMIT export id")
    export_name = models.CharField(max_length=300)
    state = models.CharField(max_length=12, choices=State.choices, default=State.WAITING)
    # When the file became ready (its status change), the {finished} of delivered file names.
    finished_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker's claim: nobody else collects the file until then (a worker killed mid-download frees it).
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The proof: what was kept.
    storage_name = models.CharField(max_length=300, blank=True)
    wrapped_key = models.TextField(blank=True, editable=False)  # the file's data key, wrapped by ENCRYPTION_KEYS
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    line_count = models.BigIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    collected_at = models.DateTimeField(null=True, blank=True)
    # A records request: kept past ARCHIVE_RETENTION_DAYS until the hold is lifted.
    hold = models.BooleanField(default=False, help_text="Keep past the retention period (e.g. a records request).")
    hold_reason = models.CharField(max_length=300, blank=True)
    pruned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-finished_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="collected_due_idx"),
            models.Index(fields=["collected_at"], name="collected_at_idx"),
        ]
        constraints = [
            # One export file, or one index, per ExportFile row; one row per zip of a batch.
            models.UniqueConstraint(
                fields=["export_file", "piece"], condition=~Q(piece="zip"), name="collected_once_per_file"
            ),
            models.UniqueConstraint(
                fields=["export_file", "part"], condition=Q(piece="zip"), name="collected_once_per_zip"
            ),
            models.CheckConstraint(
                condition=(Q(piece="zip") & Q(part__isnull=False, parts__isnull=False, zip_webadmit_id__isnull=False))
                | (~Q(piece="zip") & Q(part__isnull=True, parts__isnull=True, zip_webadmit_id__isnull=True)),
                name="collected_zip_has_its_place",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.export_name} · file {self.file_webadmit_id}{self.piece_words} ({self.get_state_display()})"

    @property
    def piece_label(self) -> str:
        """Which piece of a batch this is, as its page and the audit name it: "Zip 2 of 3", "Index"; "" for a file."""
        if self.piece == self.Piece.ZIP:
            return f"Zip {self.part} of {self.parts}"
        return "Index" if self.piece == self.Piece.INDEX else ""

    @property
    def piece_words(self) -> str:
        """The same inside a sentence: " · zip 2 of 3", " · index", or nothing for a file."""
        return f" · {self.piece_label.lower()}" if self.piece_label else ""

    @property
    def in_archive(self) -> bool:
        return self.state == self.State.COLLECTED and bool(self.storage_name)

    @property
    def extension(self) -> str:
        # A zip is a zip, whatever type the storage host sent it as; the index is the CSV it was made as.
        if self.piece == self.Piece.ZIP:
            return "zip"
        return "csv" if self.piece == self.Piece.INDEX else extension_for(self.content_type)


def extension_for(content_type: str) -> str:
    kind = content_type.split(";")[0].strip().lower()
    return {
        "text/csv": "csv",
        "text/plain": "txt",
        "text/tab-separated-values": "tsv",
        "application/vnd.ms-excel": "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
        "application/pdf": "pdf",
        "application/zip": "zip",
        "application/json": "json",
        "text/html": "html",
        "application/xml": "xml",
        "text/xml": "xml",
    }.get(kind, "dat")


class Destination(models.Model):
    """A place files are delivered to: a folder (a mounted share), an SFTP server or an S3-compatible bucket.

    Its one secret (the SFTP password or private key, or the S3 secret access key) is write-only and encrypted like
    API keys; an SFTP server's host key is pinned, so a server that answers with another key is refused.
    """

    class Kind(models.TextChoices):
        FOLDER = "folder", "Folder"
        SFTP = "sftp", "SFTP"
        S3 = "s3", "S3-compatible bucket"

    name = models.CharField(max_length=100, unique=True, help_text="A name staff will recognise, e.g. 'Slate SFTP'.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(default=True, help_text="Disabled destinations receive nothing until enabled.")
    # A folder
    path = models.CharField(max_length=500, blank=True, help_text="Folder: an absolute path on the worker's host.")
    # SFTP
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(default=22)
    username = models.CharField(max_length=100, blank=True)
    directory = models.CharField(max_length=500, blank=True, help_text="SFTP: the folder to put files in.")
    host_key = models.TextField(
        blank=True, help_text="SFTP: the server's public host key, one OpenSSH line (e.g. 'ssh-ed25519 AAAA…')."
    )
    uses_private_key = models.BooleanField(default=False, editable=False)
    # S3
    bucket = models.CharField(max_length=255, blank=True)
    prefix = models.CharField(max_length=500, blank=True, help_text="S3: a key prefix, e.g. 'incoming/'.")
    endpoint_url = models.CharField(
        max_length=500, blank=True, help_text="S3: the endpoint of an S3-compatible service; blank for AWS."
    )
    region = models.CharField(max_length=50, blank=True, default="us-east-1")
    access_key_id = models.CharField(max_length=128, blank=True)
    secret_encrypted = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret) if secret else ""

    def get_secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)


class DeliveryRule(FileMatch):
    """Files to deliver to a destination, under a name made from `file_name` (collected first, if no rule did)."""

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="rules")
    file_name = models.CharField(
        max_length=300,
        default=DEFAULT_TEMPLATE,
        help_text="Fields: {export}, {identity}, {cycle}, {file_id}, {export_id}, {ext} and {finished:%Y%m%d_%H%M} "
        "(a strftime format). Made safe for any file system. A batch's zips add _part2of3 to it.",
    )
    index_csv = models.BooleanField(
        "Write an index CSV beside a batch's zips",
        default=False,
        help_text="PDF Manager batches: also deliver a CSV listing each PDF in the zips (zip part, file name, CAS "
        "ID), read from the zips' directories.",
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Deliver {self.described()} to {self.destination}"


class FileDelivery(models.Model):
    """One delivery of one collected file to one destination: recorded before it is tried, so a retry, a repeated
    task or a worker restarted after a crash delivers it once. *Deliver again* adds a new round."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be delivered"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Delivery failed"

    collected = models.ForeignKey(CollectedFile, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="deliveries")
    rule = models.ForeignKey(DeliveryRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    round = models.PositiveIntegerField(default=1)
    file_name = models.CharField(max_length=300)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    remote_name = models.CharField(max_length=1000, blank=True)
    checksum_verified = models.BooleanField(default=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The notifications' outbox: a delivery failed for good and not yet told (notifications/watch.py reads it).
    told_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "file deliveries"
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["collected", "destination", "round"], name="handover_once_per_round")
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="handover_due_idx"),
            models.Index(
                fields=["failed_at"], name="handover_untold_idx", condition=Q(state="failed", told_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.collected} → {self.destination} ({self.get_state_display()})"
