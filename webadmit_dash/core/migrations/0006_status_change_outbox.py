from django.db import migrations, models
from django.utils import timezone


def history_is_not_news(apps, schema_editor):
    # Transitions recorded before notifications existed were seen on the page long ago: none of them is sent.
    StatusChange = apps.get_model("dashboard", "StatusChange")
    StatusChange.objects.filter(fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0005_self_healing_circuit_and_settled_cadence'),
    ]

    operations = [
        migrations.AddField(
            model_name='statuschange',
            name='fanned_out_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(history_is_not_news, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name='statuschange',
            index=models.Index(condition=models.Q(('fanned_out_at__isnull', True)), fields=['id'], name='status_change_outbox_idx'),
        ),
    ]
