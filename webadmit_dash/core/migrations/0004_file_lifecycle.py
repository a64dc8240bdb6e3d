"""The file lifecycle: superseded and acknowledged failures, the Run again audit, and the attention rank that
follows from them.

Existing failed (or empty, or never finished) runs whose export already has a later run that ended well come out
superseded. The attention rank is a generated column whose expression changes, which Django cannot alter in
place: it is dropped (with the index that sorts by it) and added again, computed from the data as it then is.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# Frozen here, as a migration must be: the statuses of webadmit_dash.webadmit.statuses at the time of writing.
GOOD = {"available", "success_with_errors"}
RUNNING = ("initializing", "queued", "in_progress", "unknown")


def supersede_existing(apps, schema_editor):
    """Each not-good run points at the nearest later run of its export that ended well (as the apply step does)."""
    ExportFile = apps.get_model("dashboard", "ExportFile")
    runs = ExportFile.objects.order_by("identity_id", "export_webadmit_id", "-webadmit_id").values_list(
        "pk", "identity_id", "export_webadmit_id", "status"
    )
    changed = []
    export, nearest_good = None, None
    for pk, identity_id, export_id, status in runs.iterator(chunk_size=2000):
        if (identity_id, export_id) != export:
            export, nearest_good = (identity_id, export_id), None
        if status in GOOD:
            nearest_good = pk
        elif nearest_good is not None:
            changed.append(ExportFile(pk=pk, superseded_by_id=nearest_good))
    ExportFile.objects.bulk_update(changed, ["superseded_by"], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("dashboard", "0003_download_outcomes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="exportfile",
            name="acknowledged_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="exportfile",
            name="acknowledged_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="exportfile",
            name="superseded_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="supersedes",
                to="dashboard.exportfile",
            ),
        ),
        migrations.AddIndex(
            model_name="exportfile",
            index=models.Index(fields=["identity", "export_webadmit_id", "webadmit_id"], name="file_export_runs_idx"),
        ),
        migrations.RunPython(supersede_existing, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="exportfile", name="file_dashboard_order_idx"),
        migrations.RemoveField(model_name="exportfile", name="attention_rank"),
        migrations.AddField(
            model_name="exportfile",
            name="attention_rank",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Case(
                    models.When(
                        models.Q(
                            ("superseded_by__isnull", True),
                            models.Q(
                                ("status__in", RUNNING),
                                models.Q(("acknowledged_at__isnull", True), ("status", "failed")),
                                _connector="OR",
                            ),
                        ),
                        then=models.Value(0),
                    ),
                    default=models.Value(1),
                ),
                output_field=models.SmallIntegerField(),
            ),
        ),
        migrations.AddIndex(
            model_name="exportfile",
            index=models.Index(
                fields=["attention_rank", "-first_seen_at", "-webadmit_id"], name="file_dashboard_order_idx"
            ),
        ),
        migrations.CreateModel(
            name="RunRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("file_webadmit_id", models.BigIntegerField(verbose_name="WebAdMIT file id asked from")),
                ("export_webadmit_id", models.BigIntegerField(verbose_name="WebAdMIT export id")),
                (
                    "run_webadmit_id",
                    models.BigIntegerField(blank=True, null=True, verbose_name="WebAdMIT file id started"),
                ),
                ("already_running", models.BooleanField(default=False)),
                ("message", models.TextField(blank=True, help_text="Why WebAdMIT refused, when it did.")),
                ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                (
                    "identity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="dashboard.useridentity"
                    ),
                ),
                (
                    "requested_from",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="run_requests",
                        to="dashboard.exportfile",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="started_by",
                        to="dashboard.exportfile",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-created_at"]},
        ),
    ]
