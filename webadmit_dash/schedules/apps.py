from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "webadmit_dash.schedules"
    label = "schedules"
    verbose_name = "Schedules and expected files"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from webadmit_dash.schedules import expected, watch_admin, watch_tasks  # noqa: F401 - registers them
        from webadmit_dash.schedules.models import Schedule

        # A new schedule brings its default expectation (schedules/expected.py).
        post_save.connect(expected.on_schedule_saved, sender=Schedule, dispatch_uid="schedules.default_expectation")
