"""The Celery app, wired the Celery-Django way: `celery -A webadmit_dash worker --beat`."""

import os
import sys

from celery import Celery
from celery.signals import beat_embedded_init

from webadmit_dash.config import ConfigError, exit_on_config_error
from webadmit_dash.lifeline import die_with_parent

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webadmit_dash.settings")

app = Celery("webadmit_dash")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _load_settings_or_exit() -> None:
    # Celery reads settings lazily, deep inside its start-up, where a bad value would surface as a traceback.
    from django.conf import settings

    from webadmit_dash import local_data

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load now
        # Celery runs no system checks: a data folder nobody prepared would otherwise end in a broker traceback.
        problem = local_data.problem(settings)
    except ConfigError as error:
        exit_on_config_error(error)
    if problem:
        exit_on_config_error(ConfigError(problem))


if os.path.basename(sys.argv[0]) == "celery":
    _load_settings_or_exit()


@beat_embedded_init.connect
def _embedded_beat_dies_with_its_worker(**kwargs: object) -> None:
    # `worker --beat` runs beat in a child process. A worker killed with SIGKILL would leave it behind, still
    # queueing work, and a restarted worker would add a second scheduler beside it.
    die_with_parent()
