"""A failed delivery needs attention: the attention rank's expression gains it, and downloads gain the archive's
outcomes."""

from django.db import migrations, models

RUNNING = ("initializing", "queued", "in_progress", "unknown")


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0007_not_stored_error_kind'),
    ]

    operations = [
        migrations.AddField(
            model_name='exportfile',
            name='delivery_failed_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='downloadevent',
            name='outcome',
            field=models.CharField(choices=[('redirected', 'Redirected to the file'), ('not_downloadable', 'File not downloadable'), ('unsafe_url', 'Download address refused'), ('from_archive', 'Served from the archive'), ('archive_tampered', 'Archived copy failed its check'), ('key_rejected', 'WebAdMIT rejected the API key'), ('not_found', 'WebAdMIT no longer has this file'), ('rate_limited', 'WebAdMIT is busy'), ('unavailable', 'WebAdMIT is not answering'), ('bad_response', 'WebAdMIT sent an unexpected answer'), ('request_rejected', 'WebAdMIT refused the request'), ('not_stored', "WebAdMIT's answer could not be stored")], max_length=20),
        ),
        # A generated column cannot be altered: it is dropped (with its index) and added with the new expression.
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
                            models.Q(
                                ("superseded_by__isnull", True),
                                models.Q(
                                    ("status__in", RUNNING),
                                    models.Q(("acknowledged_at__isnull", True), ("status", "failed")),
                                    _connector="OR",
                                ),
                            ),
                            ("delivery_failed_at__isnull", False),
                            _connector="OR",
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
    ]
