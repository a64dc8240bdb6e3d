"""WSGI entry point for gunicorn: `gunicorn webadmit_dash.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

from webadmit_dash.config import ConfigError, exit_on_config_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webadmit_dash.settings")

try:
    application = get_wsgi_application()
except ConfigError as error:
    exit_on_config_error(error)

from webadmit_dash.ops.checks import warn_on_start  # after the apps are loaded above

warn_on_start()  # gunicorn runs no system checks: a deployment mistake is logged by every web process instead
