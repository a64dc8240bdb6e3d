from django.apps import AppConfig


class SharedConfig(AppConfig):
    # An app only so that Django finds the `display` template tags every app's templates load.
    name = "webadmit_dash.shared"
    label = "shared"
    verbose_name = "Shared page helpers"
