from django.apps import AppConfig


class EngineConfig(AppConfig):
    """An app so that Celery's autodiscovery finds `engine.tasks`; the engine has no models of its own."""

    name = "webadmit_dash.engine"
    label = "engine"
    verbose_name = "Refresh engine"
