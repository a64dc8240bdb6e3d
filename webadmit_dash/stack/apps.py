from django.apps import AppConfig


class StackConfig(AppConfig):
    """An app so that `manage.py runstack` is found; it has no models."""

    name = "webadmit_dash.stack"
    label = "stack"
    verbose_name = "Local stack"
