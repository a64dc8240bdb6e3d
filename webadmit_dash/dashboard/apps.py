from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "webadmit_dash.dashboard"
    label = "dashboard"
    verbose_name = "WebAdMIT dashboard"
