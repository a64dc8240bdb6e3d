"""System checks (`manage.py check`, and before runserver and migrate) for what a deployment can get wrong without
anything failing at once, and the same warnings logged when a web server or worker process starts: gunicorn and
Celery run no system checks.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_ready
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from webadmit_dash import local_data
from webadmit_dash.core import mail

logger = logging.getLogger(__name__)


@register()
def data_folder(**kwargs: Any) -> list[CheckMessage]:
    problem = local_data.problem(settings)
    return [Error(problem, id="webadmit_dash.E001")] if problem else []


@register()
def mail_server(**kwargs: Any) -> list[CheckMessage]:
    warning = mail.production_warning()
    return [Warning(warning, id="webadmit_dash.W001")] if warning else []


def warn_on_start() -> None:
    """Logs, at WARNING, what the checks above warn about: once per web server or worker process started."""
    warning = mail.production_warning()
    if warning:
        logger.warning(warning)


@worker_ready.connect(dispatch_uid="ops.warn_on_worker_start")
def _warn_on_worker_start(**kwargs: Any) -> None:
    warn_on_start()
