"""The data folder of a machine without servers: made by the commands that need it, never by importing settings.

Outside production, DATA_DIR holds what a laptop or a test run needs and nobody configured: the SQLite database,
the embedded broker's folders, and a generated Django secret key and encryption key. `runstack` (`make run`) and
`generate_secrets --write` create them here; settings.py only reads the secrets if they exist, and a system check
(ops/checks.py) names what is missing, with the command that makes it, before a command needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from webadmit_dash.config import generated_secret, private_directory

# The setting, the file in DATA_DIR its generated value is kept in, and the kind of secret generated.
SECRET_FILES = (("SECRET_KEY", "secret_key", "django"), ("ENCRYPTION_KEYS", "encryption_key", "fernet"))
WORDS = {
    "SECRET_KEY": "Django secret key (DJANGO_SECRET_KEY)",
    "ENCRYPTION_KEYS": "encryption key (ENCRYPTION_KEYS)",
}
HOW_TO_PREPARE = (
    "Run `python manage.py generate_secrets --write` once (`make run` does it for you), "
    "or set DJANGO_SECRET_KEY and ENCRYPTION_KEYS."
)


def missing(settings: Any) -> list[str]:
    """The secrets this process's settings still lack from the data folder, in words; none in production, whose
    secrets come from the environment (settings.py refuses to start without them)."""
    if settings.PRODUCTION:
        return []
    return [WORDS[name] for name, _file, _kind in SECRET_FILES if not _configured(settings, name)]


def problem(settings: Any) -> str | None:
    """`missing` in one sentence, for the system check and for a worker started by hand; None when ready."""
    lacking = missing(settings)
    if not lacking:
        return None
    return f"{settings.DATA_DIR} is not prepared: no {' and no '.join(lacking)}. {HOW_TO_PREPARE}"


def prepare(settings: Any) -> None:
    """Creates the data folder (owner-only), the embedded broker's and static files' folders, and the secrets no
    variable gives, then hands those secrets to this process's settings, which were read before they existed.

    `settings` is django.conf.settings, or the test settings module while it is being read."""
    data_dir = private_directory(Path(settings.DATA_DIR))
    for folder in _folders(settings):
        folder.mkdir(parents=True, exist_ok=True)
    if settings.PRODUCTION:
        return
    for name, file_name, kind in SECRET_FILES:
        if not _configured(settings, name):
            value = generated_secret(data_dir / file_name, kind=kind)
            setattr(settings, name, [value] if name == "ENCRYPTION_KEYS" else value)


def _broker_folders(settings: Any) -> list[Path]:
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return []
    broker = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    return [Path(broker[key]) for key in ("data_folder_in", "control_folder")]


def _folders(settings: Any) -> list[Path]:
    folders = _broker_folders(settings)
    if not settings.PRODUCTION:
        folders.append(Path(settings.STATIC_ROOT))  # whitenoise warns at every start about a missing one
    return folders


def _configured(settings: Any, name: str) -> bool:
    try:
        return bool(getattr(settings, name))
    except ImproperlyConfigured:  # django.conf.settings refuses to hand out an empty SECRET_KEY
        return False
