from django.apps import AppConfig


class EngineConfig(AppConfig):
    """An app so that Celery's autodiscovery finds `engine.tasks`, with one model of its own (`InteractiveCall`)."""

    name = "webadmit_dash.engine"
    label = "engine"
    verbose_name = "Refresh engine"
