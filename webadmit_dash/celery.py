"""The Celery app, wired the Celery-Django way: `celery -A webadmit_dash worker --beat`."""

import os
import sys

from celery import Celery

from webadmit_dash.config import ConfigError, exit_on_config_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webadmit_dash.settings")

app = Celery("webadmit_dash")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _load_settings_or_exit() -> None:
    # Celery reads settings lazily, deep inside its start-up, where a bad value would surface as a traceback.
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load now
    except ConfigError as error:
        exit_on_config_error(error)


if os.path.basename(sys.argv[0]) == "celery":
    _load_settings_or_exit()
