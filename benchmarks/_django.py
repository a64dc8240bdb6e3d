"""Points a benchmark process at a throwaway data folder and starts Django, whatever this shell points at."""

from __future__ import annotations

import os
from pathlib import Path


def setup_throwaway_django(data_dir: Path, *, database_url: str | None = None, broker_url: str | None = None) -> None:
    """SQLite and the filesystem broker in `data_dir`, unless a database or broker URL is given for them."""
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "webadmit_dash.settings"
    os.environ.setdefault("DJANGO_ENV", "development")
    os.environ["DJANGO_DEBUG"] = "false"  # DEBUG keeps every query in memory and renders debug helpers
    os.environ["WEBADMIT_ALLOW_LOOPBACK"] = "true"  # the simulator listens on 127.0.0.1
    for name, value in (("DATABASE_URL", database_url), ("CELERY_BROKER_URL", broker_url)):
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    import django
    from django.conf import settings

    from webadmit_dash import local_data

    django.setup()
    # The folder's secrets and broker folders, as `make run` makes them: settings only read (local_data.py).
    local_data.prepare(settings)
