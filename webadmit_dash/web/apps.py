from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "webadmit_dash.web"
    label = "web"
    verbose_name = "Pages"

    def ready(self) -> None:
        from webadmit_dash.web import signals  # noqa: F401 - connects the receivers
