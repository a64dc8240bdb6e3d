from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "webadmit_dash.dashboard"
    label = "dashboard"
    verbose_name = "WebAdMIT dashboard"

    def ready(self) -> None:
        from webadmit_dash.dashboard import signals  # noqa: F401 - connects the receivers
