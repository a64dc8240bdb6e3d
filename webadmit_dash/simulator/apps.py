from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "webadmit_dash.simulator"
    label = "simulator"
    verbose_name = "WebAdMIT simulator"
