"""Where this installation's e-mail goes: through the mail server (EMAIL_HOST), or, with none configured, into files
in EMAIL_FILE_PATH (settings.py), which nobody reads unless told. Pages, the start-up warnings and /readyz say so
in the same words."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def files_folder() -> str | None:
    """The folder mail is written to instead of being sent, as its operator knows it (`var/mail/`); None when a
    mail server sends it."""
    if settings.EMAIL_HOST:
        return None
    folder = Path(settings.EMAIL_FILE_PATH)
    if folder.is_relative_to(settings.BASE_DIR):
        folder = folder.relative_to(settings.BASE_DIR)
    return f"{folder}/"


def production_warning() -> str | None:
    """In words, when production writes mail to files: notifications nobody receives, with nothing failing."""
    folder = files_folder()
    if not settings.PRODUCTION or folder is None:
        return None
    return (
        f"EMAIL_HOST is not set: notification e-mails are written to files in {folder} instead of being sent; "
        "set EMAIL_HOST to your mail relay (see the README's Configuration table)"
    )
