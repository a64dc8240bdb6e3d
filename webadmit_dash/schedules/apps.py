from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "webadmit_dash.schedules"
    label = "schedules"
    verbose_name = "Schedules and expected files"
