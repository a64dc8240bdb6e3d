from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "webadmit_dash.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Every process that loads Django (gunicorn workers, Celery workers, beat) starts counting from here.
        from webadmit_dash.ops import (
            checks,  # noqa: F401 - registers the system checks and the worker's start-up warning
            metrics,
        )

        metrics.install()
